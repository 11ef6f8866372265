"""Each metric against one swept parameter's values: one small panel per metric, the values at
equal spacing in the order of the sample grids below the figure, mean ± sd over training seeds
(or, with one seed, ± the evaluator's sd over its sampling seeds)."""

from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure

from genimg.experiments.report.effects import BEYOND, Effect
from genimg.experiments.report.formatting import value_text
from genimg.plotting import new_figure

COLUMNS = 5  # panels per figure row: ten metrics make two rows that fit a landscape page


def effects_figure(key: str, effects: list[Effect]) -> Figure | None:
    """The panels for one parameter; None when no metric has two values to compare."""
    if not effects:
        return None
    ncols = min(COLUMNS, len(effects))
    nrows = math.ceil(len(effects) / ncols)
    figure = new_figure(2.7 * ncols, 2.3 * nrows + 0.5)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    labels = [value_text(row.values.get(key)) for row in effects[0].rows]
    for ax, effect in zip(axes.flat, effects):
        xs = [i for i, cell in enumerate(effect.cells) if cell.mean is not None]
        ys = [effect.cells[i].mean for i in xs]
        bars, _ = effect.errors
        errors = [bars[i] if bars[i] is not None else 0.0 for i in xs]
        ax.errorbar(xs, ys, yerr=errors, marker="o", ms=4, lw=1.3, capsize=3, color="#3a5ba0")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=7, rotation=30 if max(len(s) for s in labels) > 6 else 0)
        ax.set_xlim(-0.4, len(labels) - 0.6)
        ax.tick_params(axis="y", labelsize=7)
        arrow = "↑" if effect.column.metric.higher_is_better else "↓"
        mark = " *" if effect.verdict == BEYOND else ""
        ax.set_title("\n".join(textwrap.wrap(f"{effect.column.title} {arrow}{mark}", 30)), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(effects) :]:
        ax.set_visible(False)
    _, what = effects[0].errors
    figure.suptitle(
        f"metrics against {key} (error bars: {what}; * beyond the seed noise)",
        fontsize=9,
    )
    figure.supxlabel(key, fontsize=8)
    figure.tight_layout()
    return figure
