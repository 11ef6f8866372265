"""The figures of the views: tables of images tiled into one array, and saving a view's figure.

Each cell is one image; the table is shown with imshow(interpolation="nearest") at an integer
number of screen pixels per image pixel, so 8x8 digits stay crisp and legible.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from genimg.models.latent_space import LatentSpace
from genimg.plotting import DPI, new_figure, save_figure

GAP = 1  # image pixels between cells
PAD_INCHES = 0.15  # white border around the tight box of a saved figure


class Tiling(NamedTuple):
    array: np.ndarray  # (H, W, C) in [0, 1]
    x_centres: list[float]  # of the columns, in array pixels
    y_centres: list[float]  # of the rows
    bottoms: list[float]  # each row's bottom edge


def pixel_scale(height: int) -> int:
    """Screen pixels per image pixel: an 8x8 digit becomes 80x80, a 28x28 image 56x56."""
    return max(2, 80 // height)


def tile(
    cells: list[list[torch.Tensor | None]],
    col_gaps: dict[int, int] | None = None,
    row_gaps: dict[int, int] | None = None,
    fill: float = 1.0,
) -> Tiling:
    """Tile a table of CHW images (None = empty cell) into one HWC array.

    ``col_gaps``/``row_gaps`` add extra image pixels after a column/row index."""
    col_gaps, row_gaps = col_gaps or {}, row_gaps or {}
    sample = next(c for row in cells for c in row if c is not None)
    ch, h, w = sample.shape
    rows, cols = len(cells), max(len(r) for r in cells)
    lefts, x = [], GAP
    for c in range(cols):
        lefts.append(x)
        x += w + GAP + col_gaps.get(c, 0)
    tops, y = [], GAP
    for r in range(rows):
        tops.append(y)
        y += h + GAP + row_gaps.get(r, 0)
    array = np.full((y, x, ch), fill, dtype=np.float32)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            if cell is not None:
                array[tops[r] : tops[r] + h, lefts[c] : lefts[c] + w] = _to_hwc(cell)
    return Tiling(
        array,
        [left + (w - 1) / 2 for left in lefts],
        [top + (h - 1) / 2 for top in tops],
        [top + h - 0.5 for top in tops],
    )


def tiled_figure(
    array: np.ndarray, scale: int, left: float = 1.4, right: float = 0.2, bottom: float = 0.7, top: float = 0.7
) -> tuple[Figure, Axes]:
    """A figure whose axes show ``array`` at exactly ``scale`` screen pixels per array pixel,
    with margins (inches) for tick labels and the title."""
    width_in = array.shape[1] * scale / DPI
    height_in = array.shape[0] * scale / DPI
    fig_w, fig_h = width_in + left + right, height_in + bottom + top
    figure = new_figure(fig_w, fig_h, dpi=DPI)
    ax = figure.add_axes((left / fig_w, bottom / fig_h, width_in / fig_w, height_in / fig_h))
    if array.shape[2] == 1:
        ax.imshow(array[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(array, interpolation="nearest")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return figure, ax


def space_title(space: LatentSpace) -> str:
    """What the codes are, for a figure's title: "vae, 2-D posterior mean"."""
    return f"{space.model.family}, {space.dim}-D {space.name}"


def class_note(labels: torch.Tensor | None) -> str:
    """ ", class K" for a figure decoded with one class K; nothing for an unconditional model."""
    return f", class {int(labels[0])}" if labels is not None else ""


class _HasPath(Protocol):
    path: Path | None


Result = TypeVar("Result", bound=_HasPath)


def with_figure(result: Result, out: str | Path | None, draw: Callable[[Result], Figure]) -> Result:
    """``result``, its figure drawn and saved at ``out`` (kept as ``result.path``) when ``out`` is given."""
    if out is not None:
        result.path = Path(out)
        save_view_figure(draw(result), result.path)
    return result


def save_view_figure(figure: Figure, path: str | Path) -> None:
    """Save atomically on white, cropped to what is drawn: titles and tick labels may reach past the
    margins of a small table, and the tight box keeps them whole."""
    save_figure(figure, path, tight=True, pad_inches=PAD_INCHES)


def _to_hwc(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().cpu().clamp(0, 1).numpy().transpose(1, 2, 0)
