"""The metrics table: one row per variant, one column per metric (per feature extractor for the
sample-quality scores, whose values are only comparable within one extractor), mean ± sample
std over seeds in each cell, and the best value of each column."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from genimg.experiments.report.collect import Row
from genimg.experiments.report.metrics import METRICS, Metric


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
    return Table(rows, columns, cells, extractors, best)


def best_rows(values: list[float | None], better: str) -> set[int]:
    """Indices of the best value (ties all count); none when fewer than two values are present
    or all are equal (nothing stands out). ``better`` is "lower" or "higher"."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(present) < 2 or len({v for _, v in present}) == 1:
        return set()
    target = min(v for _, v in present) if better == "lower" else max(v for _, v in present)
    return {i for i, v in present if v == target}
