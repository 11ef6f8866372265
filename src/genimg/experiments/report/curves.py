"""Learning curves for the report: validation loss and FID per epoch where recorded (else the
training losses), one panel per quantity and family, several seeds drawn as mean ± std."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from genimg.experiments.report.records import RunRecord, number
from genimg.plotting import new_figure


def curve_keys(runs: list[RunRecord]) -> list[tuple[str, str]]:
    """(key, axis label) of the curves to draw: validation loss and FID where recorded, else the
    training losses (a GAN without FID during training)."""
    has = lambda test: any(test(rec) for run in runs for rec in run.history)  # noqa: E731
    keys = []
    if has(lambda rec: "loss" in (rec.get("val") or {})):
        keys.append(("val/loss", "validation loss"))
    if has(lambda rec: number(rec.get("fid")) is not None):
        keys.append(("fid", "FID during training (val split)"))
    if not keys:
        train_keys = sorted({k for run in runs for rec in run.history for k in (rec.get("train") or {})})
        keys = [(f"train/{k}", f"training {k}") for k in train_keys[:4]]
    return keys


def curve(run: RunRecord, key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of ``key`` ("val/loss", "fid" ...) in a run's history."""
    xs, ys = [], []
    for rec in run.history:
        value: Any = rec
        for part in key.split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        value = number(value)
        if value is not None and "epoch" in rec:
            xs.append(int(rec["epoch"]))
            ys.append(value)
    return xs, ys


def learning_curves(series: list[tuple[str, list[RunRecord]]], title: str) -> Figure | None:
    """Overlaid curves of the (label, runs) series, one panel per recorded quantity; None if
    nothing was recorded."""
    runs = [run for _, rs in series for run in rs]
    families = sorted({run.family for run in runs})
    panels = [
        (family, key, label)
        for key, label in curve_keys(runs)
        for family in families
        if any(curve(r, key)[0] for r in runs if r.family == family)
    ]
    if not panels:
        return None
    figure = new_figure(5.4 * len(panels), 3.8)
    axes = figure.subplots(1, len(panels), squeeze=False)
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (family, key, label) in zip(axes[0], panels):
        for i, (name, rs) in enumerate(series):
            curves = [curve(r, key) for r in rs if r.family == family]
            curves = [c for c in curves if c[0]]
            if not curves:
                continue
            color = colors[i % len(colors)]
            epochs = sorted(set.intersection(*(set(x) for x, _ in curves)))
            if len(curves) == 1 or not epochs:
                x, y = curves[0]
                ax.plot(x, y, color=color, label=name, lw=1.4)
                continue
            matrix = np.array([[dict(zip(x, y))[e] for e in epochs] for x, y in curves])
            mean, std = matrix.mean(0), matrix.std(0, ddof=1)
            ax.plot(epochs, mean, color=color, label=f"{name} (mean of {len(curves)})", lw=1.4)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{family}: {label}" if len(families) > 1 else label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return figure
