"""The pictures of a classification: the confusion matrix, the reliability diagram, and the
benchmark's accuracy against the fraction of missing pixels. Each function returns a bare
Figure (``genimg.plotting``); the caller saves it."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from genimg.plotting import new_figure
from genimg.tasks.classify.calibration import Reliability


def confusion_figure(matrix: torch.Tensor, class_names: list[str], title: str) -> Figure:
    """Counts in every cell, shaded by the share of the true class (row) they hold."""
    counts = matrix.double().numpy()
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = 1.2 + 0.42 * len(class_names)
    figure = new_figure(size + 0.9, size)
    ax = figure.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        if count:
            ax.text(col, row, f"{count:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if shares[row, col] > 0.5 else "black")  # fmt: skip
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    figure.tight_layout()
    return figure


def reliability_figure(diagram: Reliability, title: str) -> Figure:
    """Accuracy per confidence bin against the diagonal (calibrated), with each bin's count below."""
    edges = np.asarray(diagram.edges)
    width = edges[1] - edges[0]
    centres = edges[:-1] + width / 2
    accuracy = np.nan_to_num(np.asarray(diagram.accuracy, dtype=float))
    confidence = np.asarray(diagram.confidence, dtype=float)
    figure = new_figure(4.2, 5.0)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(centres, accuracy, width=width * 0.95, color="tab:blue", edgecolor="black", linewidth=0.4,
            label="accuracy")  # fmt: skip
    filled = ~np.isnan(confidence)  # the gap from accuracy up (or down) to the bin's mean confidence
    top.bar(centres[filled], confidence[filled] - accuracy[filled], bottom=accuracy[filled], width=width * 0.95,
            color="tab:red", alpha=0.3, edgecolor="tab:red", hatch="//", linewidth=0.4,
            label="gap to mean confidence")  # fmt: skip
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy in bin")
    top.set_title(f"{title}\nECE {diagram.ece:.3f}", fontsize=9)
    top.legend(fontsize=7, loc="upper left")
    bottom.bar(centres, diagram.counts, width=width * 0.95, color="grey")
    bottom.set_yscale("symlog")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence, max_y p(y | x)")
    bottom.set_ylabel("images")
    figure.tight_layout()
    return figure


def missing_rate_figure(
    results: dict[str, dict[str, tuple[float, float, float]]], title: str, regions: dict[str, str] | None = None
) -> Figure:
    """Accuracy against the fraction of missing pixels, one line per classifier.

    ``results``: classifier -> setting -> (missing fraction, mean accuracy, std over seeds).
    Settings named in ``regions`` (setting -> label, e.g. box, half) are drawn as separate
    markers at their own fraction, not joined to the random-pixel line."""
    regions = regions or {}
    figure = new_figure(8.6, 4.2)
    ax = figure.subplots()
    markers = dict(zip(regions, ("s", "D", "^", "v")))
    for i, (name, by_setting) in enumerate(results.items()):
        colour = f"C{i}"
        line = sorted(v for s, v in by_setting.items() if s not in regions)
        if line:
            x, means, stds = (np.asarray(a) for a in zip(*line))
            ax.errorbar(100 * x, means, yerr=stds, color=colour, marker="o", markersize=4, capsize=3, label=name)
        for setting in regions:
            if setting in by_setting:
                fraction, mean, std = by_setting[setting]
                shift = 1.2 * (i - (len(results) - 1) / 2)  # side by side, so that equal accuracies stay visible
                ax.errorbar(100 * fraction + shift, mean, yerr=std, color=colour, marker=markers[setting],
                            markersize=7, capsize=3, linestyle="none", markerfacecolor="none")  # fmt: skip
    for setting, label in regions.items():  # one legend entry per region marker, in grey
        ax.plot([], [], color="grey", marker=markers[setting], linestyle="none", markerfacecolor="none", label=label)
    ax.set_xlabel("missing pixels (%)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(-3, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the curves fill the axes
    figure.tight_layout()
    return figure
