"""The paragraph about runs compared without a sweep, generated from the table's numbers: the
lowest and highest value of each metric, and which run holds it. (A swept parameter's effects
are in ``effect_text``.)"""

from __future__ import annotations

from genimg.experiments.report.collect import Row
from genimg.experiments.report.formatting import format_number
from genimg.experiments.report.table import Table


def describe_runs(rows: list[Row], table: Table) -> str:
    """For runs without a common parameter: the lowest and highest value of each metric."""
    index = {id(r): i for i, r in enumerate(table.rows)}
    parts = []
    for c, col in enumerate(table.columns):
        if not col.metric.in_paragraph:
            continue
        means = [(r, table.cells[index[id(r)]][c].mean) for r in rows]
        present = [(r, mean) for r, mean in means if mean is not None]
        if len(present) < 2:
            continue
        low = min(present, key=lambda p: p[1])
        high = max(present, key=lambda p: p[1])
        integer = col.metric.integer
        parts.append(
            f"{col.title} ranged from {format_number(low[1], integer)} ({low[0].label}) "
            f"to {format_number(high[1], integer)} ({high[0].label})"
        )
    if not parts:
        return "Fewer than two runs share a metric."
    text = _join(parts) + "."
    return text[0].upper() + text[1:]


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
