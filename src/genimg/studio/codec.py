"""Images across the wire: tensors out as PNG data URLs, the client's pixels in as checked tensors.

Out: each image is a PNG at the model's own resolution; the pages scale it up with
``image-rendering: pixelated``, so 8x8 digits stay crisp and no bytes are spent on upscaling.
In: a drawing or a mask arrives as a flat list of numbers in [0, 1], row-major, channels last
(the order of a canvas's ImageData), and is checked against the run's image shape.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import torch

from genimg.errors import UserError
from genimg.images import to_pil


def png_data_url(image: torch.Tensor) -> str:
    """A CHW image in [0, 1] as a ``data:image/png;base64,...`` URL."""
    buffer = io.BytesIO()
    to_pil(image.detach().float().cpu()).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_data_urls(images: torch.Tensor) -> list[str]:
    return [png_data_url(image) for image in images]


def pixels_to_image(pixels: Sequence[float], shape: tuple[int, int, int], what: str = "pixels") -> torch.Tensor:
    """A flat HWC list in [0, 1] -> a (1, C, H, W) float tensor."""
    channels, height, width = shape
    expected = channels * height * width
    if len(pixels) != expected:
        raise UserError(
            f"{what} must hold {expected} numbers ({height}x{width} pixels x {channels} channels), got {len(pixels)}"
        )
    image = torch.tensor(list(pixels), dtype=torch.float32)
    if not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise UserError(f"{what} must lie in [0, 1]")
    return image.view(height, width, channels).permute(2, 0, 1).unsqueeze(0).contiguous()


def mask_to_keep(mask: Sequence[float], shape: tuple[int, int, int]) -> torch.Tensor:
    """A flat H*W list, 1 where the model is to fill in, -> a (1, 1, H, W) keep-mask (1 = known)."""
    _, height, width = shape
    fill = pixels_to_image(mask, (1, height, width), "mask")
    if fill.sum() == 0:
        raise UserError("the mask is empty: paint the pixels to fill in with the mask brush first")
    return (fill < 0.5).float()


def image_to_pixels(image: torch.Tensor) -> list[float]:
    """A CHW image -> the flat HWC list the pages draw from, rounded to 8 bits as a PNG would be."""
    array = (image.detach().float().cpu().clamp(0, 1) * 255).round() / 255
    return [round(float(v), 6) for v in array.permute(1, 2, 0).flatten()]
