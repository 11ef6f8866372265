"""The pictures and plots on the page: picture files (PNG, JPEG, GIF) and matplotlib figures
embedded as data URIs (the page needs no other file), side-by-side strips, the pictures a run
holds beyond its samples and reconstructions, the learning curves (validation loss and FID per
epoch where recorded, else the training losses; several seeds drawn as mean ± std), and quality
against cost: FID measured during training against the training CPU-minutes spent, every run on
the same axes, so variants can be compared at equal cost by eye."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from genimg.experiments.report.collect import Row, RunRecord, number
from genimg.plotting import figure_png, new_figure

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024  # a larger picture is listed by path instead of embedded
SHOWN_ELSEWHERE = {"samples.png", "reconstructions.png"}


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_html(plot: Figure | None, alt: str, css: str) -> str:
    """A matplotlib figure as an embedded PNG in a ``<div class=css>``; empty for no figure."""
    if plot is None:
        return ""
    return f'<div class="{css}"><img src="{data_uri(figure_png(plot))}" alt="{html.escape(alt)}"></div>'


def img(path: Path, alt: str) -> str:
    mime = IMAGE_TYPES.get(path.suffix.lower())
    size = path.stat().st_size
    if mime is None or size > MAX_EMBEDDED_BYTES:
        return f'<p class="note">{html.escape(str(path))} ({size:,} bytes) is not embedded</p>'
    return f'<img src="{data_uri(path.read_bytes(), mime)}" alt="{html.escape(alt)}">'


def figure(path: Path, caption: str) -> str:
    return f"<figure>{img(path, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def first_picture(row: Row, file: str) -> Path | None:
    """``file`` in the row's first run (its first training seed), if that run has it."""
    run = row.first()
    return run.path / file if run is not None and (run.path / file).exists() else None


def picture_strip(rows: list[Row], file: str, caption_of: Callable[[Row], str]) -> str:
    """The rows' pictures side by side, in the rows' order (the first seed's run). A row without
    the picture is left out rather than shown as an empty cell; empty if no row has one."""
    figures = [figure(path, caption_of(r)) for r in rows if (path := first_picture(r, file)) is not None]
    return f'<div class="strip">{"".join(figures)}</div>' if figures else ""


def other_pictures(run_path: Path) -> list[Path]:
    """Every picture in a run directory that the report does not show elsewhere: explore/,
    recover/, outliers/, eval/ ..., but not checkpoints or the per-epoch training grids."""
    found = []
    for path in sorted(run_path.rglob("*")):
        rel = path.relative_to(run_path)
        if not path.is_file() or path.suffix.lower() not in IMAGE_TYPES or rel.parts[0] == "checkpoints":
            continue
        if len(rel.parts) == 1 and rel.name in SHOWN_ELSEWHERE:
            continue
        if rel.parts[0] == "samples" and rel.name.startswith("epoch_"):
            continue
        found.append(path)
    return found


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


def cost_points(run: RunRecord) -> tuple[list[float], list[float]]:
    """(training CPU-minutes spent so far, FID) at each epoch where the run measured FID during
    training: metrics.jsonl holds the cumulative ``cpu_s`` on every epoch and ``fid`` on the
    epochs of an FID check (``train.fid_every``)."""
    xs, ys = [], []
    for rec in run.history:
        cpu_s, fid = number(rec.get("cpu_s")), number(rec.get("fid"))
        if cpu_s is not None and fid is not None:
            xs.append(cpu_s / 60)
            ys.append(fid)
    return xs, ys


def training_fid_floor(run: RunRecord) -> float | None:
    """The real-vs-real FID floor that fits the FID measured during training: the evaluator's,
    where it scored in the same features (the dataset's classifier) at the same sample count as
    the training checks (``train.fid_samples``); None otherwise. The checks during training
    compare with the validation split and the floor with the test split: the same distribution
    at the same sample count, so the same small-sample bias to divide out."""
    evaluation = run.evaluation
    floor = number((evaluation.get("floor") or {}).get("fid"))
    classifier = str(evaluation.get("extractor") or "").startswith("classifier-")
    samples = evaluation.get("n")
    if not floor or not classifier or samples is None or samples != run.train_setting("fid_samples"):
        return None
    return floor


def cost_figure(series: list[tuple[str, list[RunRecord]]]) -> Figure | None:
    """FID during training against training CPU-minutes, every run of the (label, runs) series on
    the same axes, one line each in its series' colour (several seeds: one line per seed, the
    label given once); beside it FID/floor for the runs whose floor is known. None when no run
    measured FID during training."""
    lines = [(i, label, run, cost_points(run)) for i, (label, runs) in enumerate(series) for run in runs]
    lines = [line for line in lines if line[3][0]]
    if not lines:
        return None
    floors = {id(run): floor for _, _, run, _ in lines if (floor := training_fid_floor(run)) is not None}
    panels = ["FID"] + (["FID/floor"] if floors else [])
    figure = new_figure(5.8 * len(panels), 4.0)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]  # past ten series the colours repeat: the line style tells them apart
    for ax, panel in zip(axes, panels):
        labelled: set[int] = set()
        values = []
        for i, label, run, (xs, ys) in lines:
            if panel == "FID/floor":
                if id(run) not in floors:
                    continue
                ys = [y / floors[id(run)] for y in ys]
            style = styles[(i // len(colors)) % len(styles)]
            ax.plot(xs, ys, style, color=colors[i % len(colors)], marker="o", ms=3, lw=1.3)
            if i not in labelled:  # one legend entry per series, however many seeds it has
                ax.lines[-1].set_label(label)
                labelled.add(i)
            values += ys
        if values and min(values) > 0 and max(values) / min(values) > 10:
            ax.set_yscale("log")  # early checks score far worse than late ones: keep the late ones readable
        ax.set_xlabel("training CPU-minutes")
        ax.set_ylabel(panel)
        ax.set_xlim(left=0)
        ax.set_title(f"{panel} during training (val split) against training cost", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure
