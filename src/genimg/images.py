"""Image grids and PNG files. Small images are upscaled with nearest-neighbour so that 8x8
digits stay legible (no blur invented between pixels)."""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image

from genimg.io import atomic_path


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 1, pad_value: float = 1.0) -> torch.Tensor:
    """Tile N images (NCHW in [0, 1]) into one CHW image, ``nrow`` images per row."""
    images = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """CHW tensor in [0, 1] -> PIL image, upscaled ``scale`` times with nearest-neighbour."""
    array = (image.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    if array.shape[0] == 1:
        pil = Image.fromarray(array[0], mode="L")
    else:
        pil = Image.fromarray(array.transpose(1, 2, 0), mode="RGB")
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
    return pil


def auto_scale(height: int, target: int = 512) -> int:
    """An integer upscale that makes a grid about ``target`` pixels tall."""
    return max(1, target // max(height, 1))


def save_png(image: Image.Image, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int | None = None, scale: int | None = None) -> None:
    """Save a grid of images as PNG, atomically, upscaled to be legible."""
    grid = make_grid(images, nrow=nrow)
    save_png(to_pil(grid, scale or auto_scale(grid.shape[1])), path)


def save_pairs(originals: torch.Tensor, others: torch.Tensor, path: str | os.PathLike, per_row: int = 8) -> None:
    """Save originals and their counterparts (e.g. reconstructions) as alternating rows."""
    n = originals.shape[0]
    rows = []
    for start in range(0, n, per_row):
        rows += [originals[start : start + per_row], others[start : start + per_row]]
    save_grid(torch.cat(rows), path, nrow=per_row)
