"""The metrics table: which numbers it shows and how, one row per variant, one column per metric
(per feature extractor for the sample-quality scores, whose values are only comparable within
one extractor), mean ± sample std over seeds in each cell, and the best value of each column;
written out as an HTML table (best values highlighted, arrows giving each column's direction)
and as CSV records in full precision (report.csv).

Which way is better comes from ``genimg.evaluate.directions``, where every evaluation output
declares it; the report keeps no directions of its own. Numbers are written with a few
significant digits, a true minus sign, thousands separated, and a dash for a missing value.
"""

from __future__ import annotations

import csv
import html
import io
import json
import statistics
from dataclasses import dataclass
from typing import Any

from genimg.evaluate.directions import higher_is_better
from genimg.experiments.report.collect import Row, RunRecord

MINUS = "\u2212"
MISSING = "\u2014"


@dataclass(frozen=True)
class Metric:
    key: str  # the score's key, in RunRecord.scores and in genimg.evaluate.directions
    title: str
    per_extractor: bool = False  # a sample-quality score: only comparable within one extractor
    in_paragraph: bool = True  # in the range paragraph of runs compared without a sweep
    integer: bool = False
    effect: bool = False  # plotted against each swept parameter, with a sentence on its effect

    @property
    def higher_is_better(self) -> bool:
        return bool(higher_is_better(self.key))

    @property
    def better(self) -> str:
        """Which way is better: "higher" or "lower"."""
        return "higher" if self.higher_is_better else "lower"


METRICS = [
    # bits/dim rather than nats/image: comparable across image sizes (the nats are in the cell's hover text)
    Metric("nll_bpd", "test NLL bound (bits/dim)", effect=True),
    # a strided estimate of the diffusion bound is no bound: it never shares the bound's column
    Metric("nll_estimate_bpd", "test NLL estimate (bits/dim)", effect=True),
    Metric("fid", "FID", per_extractor=True, in_paragraph=False),
    # FID over the real-vs-real floor: FID's bias at the evaluation's sample count divided out
    Metric("fid_over_floor", "FID/floor", per_extractor=True, effect=True),
    Metric("fooling_rate", "fooling rate (human, 50% = real)", in_paragraph=False),
    Metric("kid", "KID", per_extractor=True, effect=True),
    Metric("is", "IS", per_extractor=True, effect=True),
    Metric("sharpness", "IS sharpness S", per_extractor=True, in_paragraph=False, effect=True),
    Metric("diversity", "IS diversity D", per_extractor=True, in_paragraph=False, effect=True),
    Metric("precision", "precision", per_extractor=True, effect=True),
    Metric("recall", "recall", per_extractor=True, effect=True),
    Metric("class_entropy", "class entropy (nats)", per_extractor=True, in_paragraph=False, effect=True),
    Metric("train_time", "train time (s)", in_paragraph=False),
    Metric("train_cpu", "train CPU (min)", effect=True),
    Metric("parameters", "parameters", integer=True),
]


@dataclass(frozen=True)
class Column:
    metric: Metric
    extractor: str | None = None
    split: bool = False  # this metric has several extractors: the title names this one

    @property
    def title(self) -> str:
        return f"{self.metric.title} [{self.extractor or 'no extractor recorded'}]" if self.split else self.metric.title

    def values(self, row: Row) -> list[float]:
        out = []
        for run in row.runs:
            score = run.scores.get(self.metric.key)
            if score is not None and (not self.metric.per_extractor or score.extractor == self.extractor):
                out.append(score.value)
        return out


@dataclass(frozen=True)
class Cell:
    mean: float | None
    std: float | None = None  # sample std over seeds (None with one value)
    count: int = 0

    @classmethod
    def of(cls, values: list[float]) -> Cell:
        if not values:
            return cls(None)
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


@dataclass
class Table:
    rows: list[Row]
    columns: list[Column]
    cells: list[list[Cell]]  # [row][column]
    extractors: dict[str, list[str]]  # metric key -> the distinct extractor ids found
    best: list[set[int]]  # per column, the rows holding its best value
    # Per row, its runs' compute budgets ("5 CPU-minutes", "none") where the runs were not all
    # trained at one budget and some had one; None where every run had the same (or none had one).
    budgets: list[str] | None = None

    def column(self, key: str, extractor: str | None = None) -> int | None:
        for i, c in enumerate(self.columns):
            if c.metric.key == key and (extractor is None or c.extractor == extractor):
                return i
        return None

    @property
    def any_std(self) -> bool:
        return any(c.std is not None for row in self.cells for c in row)


def build_table(rows: list[Row]) -> Table:
    """One column per metric present in some run, split by extractor where scores disagree on it."""
    columns: list[Column] = []
    extractors: dict[str, list[str]] = {}
    for metric in METRICS:
        found = [run.scores[metric.key] for row in rows for run in row.runs if metric.key in run.scores]
        if not found:
            continue
        if metric.per_extractor:
            ids = sorted({s.extractor or "" for s in found})
            extractors[metric.key] = ids
            for extractor in ids:
                columns.append(Column(metric, extractor or None, split=len(ids) > 1))
        else:
            columns.append(Column(metric))
    cells = [[Cell.of(col.values(row)) for col in columns] for row in rows]
    best = [best_rows([cells[r][c].mean for r in range(len(rows))], col.metric.better) for c, col in enumerate(columns)]
    return Table(rows, columns, cells, extractors, best, row_budgets(rows))


def best_rows(values: list[float | None], better: str) -> set[int]:
    """Indices of the best value (ties all count); none when fewer than two values are present
    or all are equal (nothing stands out). ``better`` is "lower" or "higher"."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(present) < 2 or len({v for _, v in present}) == 1:
        return set()
    target = min(v for _, v in present) if better == "lower" else max(v for _, v in present)
    return {i for i, v in present if v == target}


def row_budgets(rows: list[Row]) -> list[str] | None:
    """Each row's compute budget(s), for the table's budget column: shown only when some run had
    a budget and the runs were not all trained at the same one."""
    runs = [run for row in rows for run in row.runs]
    if not any(run.budget_text for run in runs) or len({budget_text(run) for run in runs}) == 1:
        return None
    return [", ".join(sorted({budget_text(run) for run in row.runs})) for row in rows]


def budget_text(run: RunRecord) -> str:
    """'5 CPU-minutes', '10 wall-minutes', or 'none' (trained for a number of epochs); a budget
    that does not parse as it was written."""
    if run.budget is not None:
        return run.budget.describe()
    return run.budget_text or "none"


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


def table_records(table: Table) -> tuple[list[str], list[list[str]]]:
    """The table as CSV rows: run, family, seeds, (budget, where the runs' budgets differ), then
    each column's mean (and, with seeds, the sample std and the number of runs behind the mean:
    everything the report's t-tests use). Numbers are written in full precision; a missing value
    is an empty field."""
    header = ["run", "family", "seeds"] + (["budget"] if table.budgets is not None else [])
    for col in table.columns:
        header.append(col.title)
        if table.any_std:
            header += [f"{col.title} std", f"{col.title} n"]
    records = []
    for r, row in enumerate(table.rows):
        record = [row.label, row.family, str(len(row.runs))]
        if table.budgets is not None:
            record.append(table.budgets[r])
        for c, _ in enumerate(table.columns):
            cell = table.cells[r][c]
            record.append("" if cell.mean is None else repr(cell.mean))
            if table.any_std:
                record += ["" if cell.std is None else repr(cell.std), str(cell.count)]
        records.append(record)
    return header, records


def table_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header, records = table_records(table)
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def table_html(table: Table) -> str:
    e = html.escape
    head = "".join(
        f'<th title="{col.metric.better} is better">{e(col.title)} {"↑" if col.metric.higher_is_better else "↓"}</th>'
        for col in table.columns
    )
    budget_head = '<th title="train.budget: the compute each run trained for">budget</th>'
    lines = [
        '<table class="metrics" id="metrics"><thead><tr><th>run</th><th>family</th><th>seeds</th>'
        f"{budget_head if table.budgets is not None else ''}{head}</tr></thead><tbody>"
    ]
    for r, row in enumerate(table.rows):
        tds = []
        for c, col in enumerate(table.columns):
            cell = table.cells[r][c]
            classes = ["num"] + (["best"] if r in table.best[c] else []) + (["missing"] if cell.mean is None else [])
            notes = {s.note for run in row.runs if (s := run.scores.get(col.metric.key)) and s.note}
            title = f' title="{e(", ".join(sorted(notes)))}"' if notes else ""
            tds.append(f'<td class="{" ".join(classes)}"{title}>{e(format_cell(cell, col.metric))}</td>')
        budget = f"<td>{e(table.budgets[r])}</td>" if table.budgets is not None else ""
        lines.append(
            f'<tr><th scope="row">{e(row.label)}</th><td>{e(row.family)}</td>'
            f'<td class="num">{len(row.runs)}</td>{budget}{"".join(tds)}</tr>'
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)
