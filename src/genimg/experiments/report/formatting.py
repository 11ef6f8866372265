"""Numbers and values as the report writes them: a few significant digits, a true minus sign,
thousands separated, a dash for a missing value."""

from __future__ import annotations

import json
from typing import Any

from genimg.experiments.report.metrics import Metric
from genimg.experiments.report.table import Cell

MINUS = "\u2212"
MISSING = "\u2014"


def format_number(value: float | None, integer: bool = False, digits: int = 4) -> str:
    """``digits`` significant digits; from 1000 up, whole numbers with thousands separated."""
    if value is None:
        return MISSING
    if integer or abs(value) >= 10 ** max(digits - 1, 3):
        return f"{value:,.0f}".replace("-", MINUS)
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", MINUS)


def percent_change(start: float, end: float) -> str:
    """ " (+12%)": the relative change, with more digits when it is small; empty from zero."""
    if start == 0:
        return ""
    change = (end - start) / abs(start) * 100
    text = f"{change:+.0f}" if abs(change) >= 10 else f"{change:+.1f}" if abs(change) >= 1 else f"{change:+.2g}"
    return f" ({text.replace('-', MINUS)}%)"


def distinct_pair(a: float, b: float, integer: bool = False) -> tuple[str, str]:
    """a and b with enough digits that different numbers never read the same."""
    for digits in range(4, 10):
        pair = format_number(a, integer, digits), format_number(b, integer, digits)
        if pair[0] != pair[1] or a == b:
            return pair
    return pair


def format_cell(cell: Cell, metric: Metric) -> str:
    text = format_number(cell.mean, metric.integer and cell.std is None)
    if cell.std is not None:  # two digits of a std over a few seeds are all it can tell (report.csv has all)
        text += f" ± {format_number(cell.std, digits=2)}"
    return text


def value_text(value: Any) -> str:
    """A swept parameter's value as the page shows it."""
    if isinstance(value, float):
        return format_number(value) if value != 0 else "0"
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
