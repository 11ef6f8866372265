"""The pictures of an outlier-detection call: hist_<score>.png, test vs OOD histograms of one
score (one panel per OOD set, and per batch size for typicality), and sets.png, a row of
test images above a row of each OOD set."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from genimg.images import save_grid
from genimg.plotting import new_figure
from genimg.tasks.outliers.options import SCORES
from genimg.tasks.outliers.scored_set import ScoredSet, typicality_batches

PANELS_PER_ROW = 4  # histogram panels per row in hist_<score>.png
EXAMPLES_PER_SET = 16  # images per row of sets.png
HISTOGRAM_BINS = 40
HISTOGRAM_DPI = 90
AXIS_LABELS = {
    "nll": "NLL (nats)",
    "ratio": "NLL - NLL_bg (nats)",
    "complexity": "S = -log2 p - L (bits)",
    "typicality": "|batch mean NLL - val mean| (nats)",
    "disc": "-D(x) (logit)",
}


def histogram_figure(
    score: str,
    by_name: dict[str, ScoredSet],
    set_names: list[str],
    rows: list[dict[str, Any]],
    batch_sizes: tuple[int, ...],
    seed: int,
) -> Figure:
    """One panel per OOD set (and per batch size M for typicality): test vs OOD histograms on
    shared bins, at most PANELS_PER_ROW panels to a row, each titled with its row's AUROC."""
    sizes = batch_sizes if score == "typicality" else (None,)
    panels = [(m, name) for m in sizes for name in set_names]
    cols = max(1, min(PANELS_PER_ROW, len(set_names)))
    rows_per_m = math.ceil(len(set_names) / cols)
    grid_rows = max(1, rows_per_m * len(sizes))
    figure = new_figure(3.4 * cols, 2.7 * grid_rows)
    axes = figure.subplots(grid_rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i, (m, set_name) in enumerate(panels):
        m_index, j = divmod(i, len(set_names))
        ax = axes[m_index * rows_per_m + j // cols][j % cols]
        if score == "typicality":
            assert m is not None  # typicality has a panel per batch size
            inside, outside = typicality_batches(by_name, set_name, m, seed)
        else:
            inside, outside = by_name["test"].score(score), by_name[set_name].score(score)
        row = next((x for x in rows if x["score"] == score and x["ood"] == set_name and x["batch_size"] == m), None)
        values = torch.cat([inside, outside]).double().numpy()
        values = values[np.isfinite(values)]
        if values.size == 0 or row is None:
            continue
        ax.set_axis_on()
        lo, hi = np.percentile(values, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, HISTOGRAM_BINS)
        ax.hist(_clipped(inside, bins), bins=bins, alpha=0.55, density=True, label="test (in)", color="tab:blue")
        ax.hist(
            _clipped(outside, bins), bins=bins, alpha=0.55, density=True, label=f"{set_name} (out)", color="tab:red"
        )
        ax.set_title(f"{set_name}{f', M={m}' if m else ''}: AUROC {row['auroc']:.3f}", fontsize=9)
        ax.set_xlabel(AXIS_LABELS[score], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    figure.suptitle(f"{score}: {SCORES[score]}", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / figure.get_figheight()))  # leave the title its own strip
    return figure


def _clipped(values: torch.Tensor, bins: np.ndarray) -> np.ndarray:
    """Values clipped to the bins' range, so the tails land in the end bins instead of vanishing."""
    return np.clip(values.double().numpy(), bins[0], bins[-1])


def save_examples(by_name: dict[str, ScoredSet], set_names: list[str], path: Path) -> None:
    """sets.png: the first EXAMPLES_PER_SET images of the test split (top row) and of each OOD set,
    a short set padded with white."""
    images = [by_name[name].images[:EXAMPLES_PER_SET].cpu() for name in ["test", *set_names]]
    padded = [torch.cat([x, torch.ones(EXAMPLES_PER_SET - len(x), *x.shape[1:])]) for x in images]
    save_grid(torch.cat(padded), path, nrow=EXAMPLES_PER_SET)
