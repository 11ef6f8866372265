"""The report's paragraphs, generated from the table's numbers: for a swept parameter, the
direction and size of every change from its first value to its last (and whether a change is
within one std of the seeds); for unrelated runs, the range of each metric."""

from __future__ import annotations

from genimg.experiments.report.collect import Row, all_numbers
from genimg.experiments.report.formatting import MINUS, format_number, value_text
from genimg.experiments.report.table import Table


def _percent(start: float, end: float) -> str:
    if start == 0:
        return ""
    change = (end - start) / abs(start) * 100
    text = f"{change:+.0f}" if abs(change) >= 10 else f"{change:+.1f}" if abs(change) >= 1 else f"{change:+.2g}"
    return f" ({text.replace('-', MINUS)}%)"


def _distinct_pair(a: float, b: float, integer: bool) -> tuple[str, str]:
    """a and b with enough digits that different numbers never read the same."""
    for digits in range(4, 10):
        pair = format_number(a, integer, digits), format_number(b, integer, digits)
        if pair[0] != pair[1] or a == b:
            return pair
    return pair


def describe_parameter(key: str, rows: list[Row], table: Table) -> str:
    """What changed, in numbers, from the parameter's first value to its last (others at base)."""
    if len(rows) < 2:
        return f"{key}: fewer than two finished runs to compare."
    first, last = rows[0], rows[-1]
    a, b = first.values.get(key), last.values.get(key)
    numeric = all_numbers([r.values.get(key) for r in rows])
    verb = "Raising" if numeric else "Changing"
    index = {id(r): i for i, r in enumerate(table.rows)}
    clauses, extremes = [], []
    for c, col in enumerate(table.columns):
        if not col.metric.in_paragraph:
            continue
        cells = [table.cells[index[id(r)]][c] for r in rows]
        start, end = cells[0], cells[-1]
        if start.mean is None or end.mean is None:
            continue
        name = col.title
        integer = col.metric.integer and start.std is None
        if start.mean == end.mean:
            clause = f"left {name} unchanged at {format_number(start.mean, integer)}"
        else:
            direction = "raised" if end.mean > start.mean else "lowered"
            a_text, b_text = _distinct_pair(start.mean, end.mean, integer)
            clause = f"{direction} {name} from {a_text} to {b_text}{_percent(start.mean, end.mean)}"
            spreads = [s for s in (start.std, end.std) if s is not None]
            if spreads and abs(end.mean - start.mean) <= max(spreads):
                clause += " (within one std of the seeds)"
        clauses.append(clause)
        present = [(i, cell.mean) for i, cell in enumerate(cells) if cell.mean is not None]
        if len(rows) > 2 and len(present) > 2:
            pick = max if col.metric.higher_is_better else min
            i, value = pick(present, key=lambda p: p[1])
            if 0 < i < len(rows) - 1 and value not in (start.mean, end.mean):
                word = "highest" if col.metric.higher_is_better else "lowest"
                at = value_text(rows[i].values.get(key))
                extremes.append(f"{name} was {word} at {key}={at} ({format_number(value, integer)})")
    if not clauses:
        return f"{verb} {key} from {value_text(a)} to {value_text(b)}: no metric was recorded for both runs."
    text = f"{verb} {key} from {value_text(a)} to {value_text(b)} {_join(clauses)}."
    if extremes:
        text += " In between, " + _join(extremes) + "."
    return text


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
