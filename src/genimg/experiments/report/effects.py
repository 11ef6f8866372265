"""The effect of one swept parameter on one metric, and whether it exceeds the seed-to-seed noise.

The effect is the change of the metric's mean over training seeds from the parameter's first
value to its last (in the plot's order; where a value has no number, the nearest one that has).

**The test.** A two-sided t-test of those two means at the 5% level, with the seed-to-seed
standard deviation *pooled over every variant of the sweep* (the equal-variance t-test of
one-way ANOVA): with ``s_i`` the sample sd over the ``n_i`` seeds of variant ``i``,

    s_p^2 = sum (n_i - 1) s_i^2 / sum (n_i - 1),   df = sum (n_i - 1),
    t = (mean_last - mean_first) / (s_p * sqrt(1/n_first + 1/n_last)).

Why pooled rather than Welch's test on the two settings alone: with the homework's two seeds
per setting, each setting's own sd has one degree of freedom, so Welch's test needs t > 12.7
and almost never sees anything; the seed noise of one family on one dataset at one budget is
much the same across settings, and pooling it over a 7-variant sweep gives 7 degrees of
freedom (t > 2.36). The price is that assumption, which the page states. Every number the test
uses is in report.csv (mean, std and n per cell), so the verdict can be recomputed from it.

With one training seed per setting the noise is unknown (no test); the evaluator's sd over its
sampling seeds, a lower bound on the noise (one trained model, fresh samples), is shown instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from genimg.experiments.report.collect import Row
from genimg.experiments.report.table import Cell, Column, Table

ALPHA = 0.05  # two-sided

BEYOND, WITHIN, UNKNOWN, UNCHANGED = "beyond", "within", "unknown", "unchanged"


@dataclass(frozen=True)
class Noise:
    """The seed-to-seed sd of one metric, pooled over a sweep's variants."""

    sd: float | None  # None: no variant has two seeds with this metric
    df: int


@dataclass(frozen=True)
class Effect:
    column: Column
    key: str  # the swept parameter
    rows: list[Row]  # the parameter's slice, in the plot's order
    cells: list[Cell]  # this column's cell of each row
    spreads: list[float | None]  # per row: the evaluator's sampling sd (a single-seed row only)
    first: int  # index in rows of the first value with a number
    last: int  # ... and of the last
    noise: Noise
    t: float | None = None
    p: float | None = None
    verdict: str = UNKNOWN

    @property
    def start(self) -> Cell:
        return self.cells[self.first]

    @property
    def end(self) -> Cell:
        return self.cells[self.last]

    @property
    def difference(self) -> float:
        return self.end.mean - self.start.mean

    @property
    def better(self) -> bool | None:
        """Whether the last value scores better than the first (None if unchanged)."""
        if self.difference == 0:
            return None
        return (self.difference > 0) == self.column.metric.higher_is_better

    @property
    def errors(self) -> tuple[list[float | None], str]:
        """The error bar of each row and what it is: sd over training seeds, or (one seed) the
        evaluator's sd over sampling seeds."""
        if self.noise.sd is not None:
            return [c.std for c in self.cells], "sd over training seeds"
        return list(self.spreads), "sd over the evaluator's sampling seeds (one training seed)"


def pooled_noise(cells: list[Cell]) -> Noise:
    """The pooled sample sd of the cells with two or more seeds, and its degrees of freedom."""
    repeated = [c for c in cells if c.std is not None]  # Cell.of gives a std from two values on
    df = sum(c.count - 1 for c in repeated)
    if df == 0:
        return Noise(None, 0)
    return Noise(math.sqrt(sum((c.count - 1) * c.std**2 for c in repeated) / df), df)


def t_test(a: Cell, b: Cell, noise: Noise) -> tuple[float | None, float | None, str]:
    """(t, two-sided p, verdict) for the difference of two cells' means against pooled noise."""
    diff = b.mean - a.mean
    if noise.sd is None:
        return None, None, UNCHANGED if diff == 0 else UNKNOWN
    se = noise.sd * math.sqrt(1 / a.count + 1 / b.count)
    if se == 0:  # every seed of every variant gave the same number: any difference is real
        return (None, None, UNCHANGED) if diff == 0 else (math.copysign(math.inf, diff), 0.0, BEYOND)
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), noise.df))
    return t, p, BEYOND if p < ALPHA else WITHIN


def parameter_effects(key: str, rows: list[Row], group_rows: list[Row], table: Table) -> list[Effect]:
    """One Effect per effect column with a number at two or more of the parameter's values;
    the noise is pooled over ``group_rows`` (every variant of the sweep)."""
    index = {id(r): i for i, r in enumerate(table.rows)}
    effects = []
    for c, column in enumerate(table.columns):
        if not column.metric.effect:
            continue
        cells = [table.cells[index[id(r)]][c] for r in rows]
        present = [i for i, cell in enumerate(cells) if cell.mean is not None]
        if len(present) < 2:
            continue
        noise = pooled_noise([table.cells[index[id(r)]][c] for r in group_rows])
        spreads = [_spread(row, column) if cell.count == 1 else None for row, cell in zip(rows, cells)]
        first, last = present[0], present[-1]
        t, p, verdict = t_test(cells[first], cells[last], noise)
        effects.append(Effect(column, key, rows, cells, spreads, first, last, noise, t, p, verdict))
    return effects


def _spread(row: Row, column: Column) -> float | None:
    for run in row.runs:
        score = run.scores.get(column.metric.key)
        if score is not None and (not column.metric.per_extractor or score.extractor == column.extractor):
            return score.spread
    return None
