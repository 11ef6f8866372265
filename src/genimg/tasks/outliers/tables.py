"""table.md and table.csv: the detection rows of table.json as Markdown tables and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

CSV_COLUMNS = ("score", "batch_size", "ood", "auroc", "aupr", "fpr95", "n_in", "n_out", "in_mean", "out_mean")
METRIC_TITLES = (
    ("auroc", "AUROC (higher is better)"),
    ("aupr", "AUPR, OOD positive (higher is better)"),
    ("fpr95", "FPR at 95% TPR (lower is better)"),
)


def score_label(row: dict[str, Any]) -> str:
    """A row's score as a table shows it: typicality rows carry their batch size."""
    return f"typicality (M={row['batch_size']})" if row["score"] == "typicality" else row["score"]


def format_markdown(table: dict[str, Any]) -> str:
    """One table per metric (rows: scores, columns: OOD sets), the NLL per set, the skipped sets."""
    rows = table["rows"]
    sets = list(table["ood_sets"])
    labels = list(dict.fromkeys(score_label(r) for r in rows))
    lines = [
        f"# Outlier detection: {table['family']} on {table['dataset']}",
        "",
        f"In-distribution: {table['in_distribution']}. Positive class: OOD; higher score = more OOD. "
        f"Likelihood bound: {table['bound'] or 'none'}.",
        "",
    ]
    for metric, title in METRIC_TITLES:
        lines += [f"## {title}", "", "| score | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
        for label in labels:
            cells = []
            for set_name in sets:
                match = [r for r in rows if score_label(r) == label and r["ood"] == set_name]
                cells.append(f"{match[0][metric]:.3f}" if match else "-")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    if table["likelihood"]:
        lines += [
            "## Negative log-likelihood per set",
            "",
            "| set | mean nats/image | mean bits/dim | share more likely than the median test image "
            "| most likely image (nats) | share of test images less likely than it |",
            "|---|---|---|---|---|---|",
        ]
        for name, v in table["likelihood"].items():
            lines.append(
                f"| {name} | {v['nll_nats']:.2f} | {v['nll_bpd']:.3f} "
                f"| {v['more_likely_than_median_test']:.2f} | {v['best_nll_nats']:.2f} "
                f"| {v['test_less_likely_than_best']:.3f} |"
            )
        lines.append("")
    for name, why in table["skipped"].items():
        lines.append(f"Skipped `{name}`: {why}.")
    return "\n".join(lines).rstrip() + "\n"


def format_csv(rows: list[dict[str, Any]]) -> str:
    """One line per detection row; an empty batch_size cell for the per-image scores."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in CSV_COLUMNS})
    return buffer.getvalue()
