"""What a classification writes: confusion.png, reliability.png, predictions.csv, table.md and,
last (its presence means the directory is complete), summary.json. Every file atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch

from genimg.io import write_json, write_text
from genimg.plotting import save_figure
from genimg.tasks.classify.bayes import BayesClassification
from genimg.tasks.classify.calibration import Reliability
from genimg.tasks.classify.figures import confusion_figure, reliability_figure

FIGURE_DPI = 110


def predictions_csv(indices: torch.Tensor, labels: torch.Tensor, result: BayesClassification) -> str:
    """One row per image: its index in the split, label, prediction, confidence, the posterior and
    each class's bound (nats; -inf for a class of prior 0, which is never scored)."""
    posterior = result.posterior
    classes = range(posterior.shape[1])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["index", "label", "prediction", "confidence"] + [f"p_{c}" for c in classes] + [f"bound_{c}" for c in classes]
    )
    for i in range(len(labels)):
        writer.writerow(
            [int(indices[i]), int(labels[i]), int(result.predictions[i]), f"{float(posterior[i].max()):.6g}"]
            + [f"{float(p):.6g}" for p in posterior[i]]
            + [f"{float(b):.4f}" for b in result.log_likelihood[i]]
        )
    return buffer.getvalue()


def format_markdown(summary: dict[str, Any]) -> str:
    """The summary as a short markdown table, with the baseline's row when there is one."""
    rows = [("generative (Bayes' rule)", summary["generative"])]
    if summary.get("baseline"):
        rows.append(("dataset classifier, mean-filled", summary["baseline"]))
    missing = summary["missing"]
    lines = [
        f"### {summary['dataset']} {summary['split']}, {summary['images']} images, missing: {missing['tag']} "
        f"({100 * missing['fraction']:.0f}% of pixels)",
        "",
        "| classifier | accuracy | ECE | log loss (nats) |",
        "|---|---|---|---|",
        *(f"| {name} | {s['accuracy']:.4f} | {s['ece']:.4f} | {s['log_loss']:.4f} |" for name, s in rows),
        "",
        f"bound: {summary['bound']['name']} ({summary['bound']['description']})",
    ]
    if missing["strategy"]:
        lines.append(f"missing pixels: {missing['strategy']}")
    lines.append(f"cost: {summary['cpu_s']['total']:.1f} CPU-s ({summary['cpu_s']['per_image']:.3f} per image)")
    return "\n".join(lines) + "\n"


def write_outputs(
    out_dir: Path,
    summary: dict[str, Any],
    confusion: torch.Tensor,
    diagram: Reliability,
    class_names: list[str],
    csv_text: str,
) -> None:
    title = f"{summary['dataset']} {summary['split']}, missing: {summary['missing']['tag']}"
    accuracy = summary["generative"]["accuracy"]
    save_figure(confusion_figure(confusion, class_names, f"{title}; accuracy {accuracy:.3f}"),
                out_dir / "confusion.png", dpi=FIGURE_DPI)  # fmt: skip
    save_figure(
        reliability_figure(diagram, f"posterior p(y | x), {title}"), out_dir / "reliability.png", dpi=FIGURE_DPI
    )
    write_text(out_dir / "predictions.csv", csv_text)
    write_text(out_dir / "table.md", format_markdown(summary))
    write_json(out_dir / "summary.json", summary)  # last: its presence means the directory is complete
