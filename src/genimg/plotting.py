"""Every matplotlib figure genimg draws is made and saved here.

Figures are bare ``matplotlib.figure.Figure`` objects on the Agg canvas, never pyplot's: pyplot
keeps global state and a global backend, and switching it would change a notebook's figures.
A function that draws returns its ``Figure``, so a notebook can show it inline (a Figure
displays itself in Jupyter) and a command can save it; saving is atomic (temporary file, then
rename), so a killed process never leaves half a PNG.
"""

from __future__ import annotations

import io
import os
from typing import Any

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from genimg.io import atomic_path

DPI = 100


def new_figure(width: float, height: float, dpi: int = DPI) -> Figure:
    """An empty figure of ``width`` x ``height`` inches, attached to an Agg canvas."""
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure, dpi: int | None = None) -> bytes:
    """The figure as PNG bytes (for embedding in HTML)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi or figure.dpi)
    return buffer.getvalue()


def save_figure(
    figure: Figure, path: str | os.PathLike, dpi: int | None = None, tight: bool = False, pad_inches: float = 0.15
) -> None:
    """Write the figure as a PNG, atomically. ``tight`` crops it to what is drawn (on white, with
    ``pad_inches`` around): titles and tick labels may reach past the margins of a small figure."""
    box: dict[str, Any] = {"bbox_inches": "tight", "pad_inches": pad_inches, "facecolor": "white"} if tight else {}
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi or figure.dpi, **box)


def class_colours(num_classes: int) -> Colormap:
    """A qualitative colour map with a distinct colour per class (up to 20)."""
    return colormaps["tab10" if num_classes <= 10 else "tab20"]
