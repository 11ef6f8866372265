"""The recovery figure: one row per image, one labelled column per stage (original, degraded, each
method's answer), drawn with Pillow at integer upscales so that 8x8 pixels stay crisp."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont

from genimg.images import to_pil

MISSING_COLOUR = (0.85, 0.25, 0.25)  # how removed pixels are drawn in the "degraded" column
HEADER_HEIGHT = 16  # pixels above the images, for the column labels


def _as_rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def recovery_figure(
    columns: dict[str, torch.Tensor],
    mask: torch.Tensor | None = None,
    mask_column: str | None = None,
    max_height: int = 4096,
) -> Image.Image:
    """One row per image, one labelled column per entry of ``columns`` (each NCHW in [0, 1]),
    upscaled with nearest-neighbour. Pixels a mask removed are drawn in red in ``mask_column``
    (they are zero in the data, which on digits would look like background)."""
    n, _, height, width = next(iter(columns.values())).shape
    scale = max(1, min(max(1, 48 // width), (max_height - HEADER_HEIGHT) // max(1, n * (height + 2))))
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = {name: int(measure.textlength(name, font=font)) + 6 for name in columns}
    cell_w, cell_h = width * scale, height * scale
    col_w = {name: max(cell_w + 4, label_width[name]) for name in columns}
    figure = Image.new("RGB", (sum(col_w.values()), HEADER_HEIGHT + n * (cell_h + 2) + 2), "white")
    draw = ImageDraw.Draw(figure)
    left = 0
    for name, images in columns.items():
        draw.text((left + (col_w[name] - label_width[name]) // 2 + 3, 2), name, fill="black", font=font)
        rgb = _as_rgb(images.detach().float().cpu().clamp(0, 1))
        if mask is not None and name == mask_column:
            missing = (mask.expand(n, 1, height, width) < 0.5).expand(-1, 3, -1, -1)
            colour = torch.tensor(MISSING_COLOUR).view(1, 3, 1, 1).expand_as(rgb)
            rgb = torch.where(missing, colour, rgb)
        cell_left = left + (col_w[name] - cell_w) // 2
        for i in range(n):
            figure.paste(to_pil(rgb[i], scale), (cell_left, HEADER_HEIGHT + i * (cell_h + 2) + 2))
        left += col_w[name]
    return figure
