"""The effect of a swept parameter on a metric, whether it exceeds the seed-to-seed noise, and
the sentence and figure that say so on the page.

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

Said on the page: one sentence per effect, an ``<li class="effect">`` whose data attributes name
the metric's column and the two report.csv rows it compares, so a reader (or a test) can
recompute the verdict from the CSV alone; and one figure per swept parameter, each metric
against the parameter's values at equal spacing in the order of the sample grids below it,
mean ± sd over training seeds (or, with one seed, ± the evaluator's sd over its sampling seeds).
"""

from __future__ import annotations

import html
import math
import textwrap
from dataclasses import dataclass

from matplotlib.figure import Figure
from scipy import stats

from genimg.experiments.report.collect import Row
from genimg.experiments.report.table import (
    MINUS,
    Cell,
    Column,
    Table,
    distinct_pair,
    format_number,
    percent_change,
    value_text,
)
from genimg.plotting import new_figure

ALPHA = 0.05  # two-sided
COLUMNS = 5  # panels per figure row: ten metrics make two rows that fit a landscape page

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
        return mean_of(self.end) - mean_of(self.start)

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


def mean_of(cell: Cell) -> float:
    """The mean of a cell that has one: an effect's ends, and the cells it compares between them."""
    assert cell.mean is not None, "an effect compares only cells with a number"
    return cell.mean


def pooled_noise(cells: list[Cell]) -> Noise:
    """The pooled sample sd of the cells with two or more seeds, and its degrees of freedom."""
    repeated = [(c.count, c.std) for c in cells if c.std is not None]  # Cell.of gives a std from two values on
    df = sum(count - 1 for count, _ in repeated)
    if df == 0:
        return Noise(None, 0)
    return Noise(math.sqrt(sum((count - 1) * std**2 for count, std in repeated) / df), df)


def t_test(a: Cell, b: Cell, noise: Noise) -> tuple[float | None, float | None, str]:
    """(t, two-sided p, verdict) for the difference of two cells' means against pooled noise."""
    diff = mean_of(b) - mean_of(a)
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


def setting(effect: Effect, i: int) -> str:
    return f"{effect.key}={value_text(effect.rows[i].values.get(effect.key))}"


def _with_sd(text: str, cell: Cell) -> str:
    # two digits of the sd are all it can tell with a few seeds (the CSV has them all)
    return f"{text} ± {format_number(cell.std, digits=2)}" if cell.std is not None else text


def test_text(effect: Effect) -> str:
    """The verdict, with the test's numbers or the spread that stands in for the noise."""
    noise = effect.noise
    if noise.sd is None:
        spreads = [effect.spreads[effect.first], effect.spreads[effect.last]]
        if all(s is not None for s in spreads):
            shown = " and ".join(format_number(s) for s in spreads)
            return (
                "seed noise unknown (one training seed per value); the evaluator's sd over its sampling "
                f"seeds, a lower bound on the noise, was {shown}"
            )
        return "seed noise unknown (one training seed per value; no sampling spread recorded)"
    if noise.sd == 0:
        same = "every seed of every variant gave the same value"
        return f"beyond the seed noise ({same})" if effect.verdict == BEYOND else same
    stat = f"t = {format_number(effect.t, digits=3)}, df = {noise.df}, p = {format_number(effect.p, digits=2)}"
    return f"{'beyond' if effect.verdict == BEYOND else 'within'} the seed noise ({stat})"


def effect_sentence(effect: Effect) -> str:
    """One sentence about one metric, as HTML."""
    metric = effect.column.metric
    name = f"<b>{html.escape(effect.column.title)}</b> ({metric.better} is better)"
    start, end = effect.start, effect.end
    assert start.mean is not None and end.mean is not None  # an effect's ends are cells with a number
    a, b = setting(effect, effect.first), setting(effect, effect.last)
    if effect.verdict == UNCHANGED or start.mean == end.mean:
        text = (
            f"{name} was the same at {html.escape(a)} and {html.escape(b)}: "
            f"{html.escape(_with_sd(format_number(start.mean), start))}; {html.escape(test_text(effect))}."
        )
    else:
        a_text, b_text = distinct_pair(start.mean, end.mean)
        verb = "rose" if end.mean > start.mean else "fell"
        size = format_number(effect.difference, digits=3)
        size = size if size.startswith(MINUS) else f"+{size}"
        quality = "better" if effect.better else "worse"
        text = (
            f"{name} {verb} from {html.escape(_with_sd(a_text, start))} at {html.escape(a)} "
            f"to {html.escape(_with_sd(b_text, end))} at {html.escape(b)}, "
            f"a change of {size}{percent_change(start.mean, end.mean)}: {quality}; "
            f"{html.escape(test_text(effect))}."
        )
    text += html.escape(_interior_best(effect))
    e = html.escape
    return (
        f'<li class="effect" data-column="{e(effect.column.title)}" data-verdict="{effect.verdict}" '
        f'data-from="{e(effect.rows[effect.first].label)}" data-to="{e(effect.rows[effect.last].label)}">'
        f"{text}</li>"
    )


def _interior_best(effect: Effect) -> str:
    """ " It was best at k=v (...)." when a value between the ends beats both (no test claimed)."""
    ends = (mean_of(effect.start), mean_of(effect.end))
    inner = [(i, c) for i, c in enumerate(effect.cells) if effect.first < i < effect.last and c.mean is not None]
    if not inner:
        return ""
    pick = max if effect.column.metric.higher_is_better else min
    i, cell = pick(inner, key=lambda p: mean_of(p[1]))
    if pick(ends + (mean_of(cell),)) != cell.mean or cell.mean in ends:
        return ""
    return f" It was best in between, at {setting(effect, i)} ({_with_sd(format_number(cell.mean), cell)})."


def effects_figure(key: str, effects: list[Effect]) -> Figure | None:
    """The panels for one parameter; None when no metric has two values to compare."""
    if not effects:
        return None
    ncols = min(COLUMNS, len(effects))
    nrows = math.ceil(len(effects) / ncols)
    figure = new_figure(2.7 * ncols, 2.3 * nrows + 0.5)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    labels = [value_text(row.values.get(key)) for row in effects[0].rows]
    for ax, effect in zip(axes.flat, effects):
        xs = [i for i, cell in enumerate(effect.cells) if cell.mean is not None]
        ys = [effect.cells[i].mean for i in xs]
        bars, _ = effect.errors
        errors = [bars[i] if bars[i] is not None else 0.0 for i in xs]
        ax.errorbar(xs, ys, yerr=errors, marker="o", ms=4, lw=1.3, capsize=3, color="#3a5ba0")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=7, rotation=30 if max(len(s) for s in labels) > 6 else 0)
        ax.set_xlim(-0.4, len(labels) - 0.6)
        ax.tick_params(axis="y", labelsize=7)
        arrow = "↑" if effect.column.metric.higher_is_better else "↓"
        mark = " *" if effect.verdict == BEYOND else ""
        ax.set_title("\n".join(textwrap.wrap(f"{effect.column.title} {arrow}{mark}", 30)), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(effects) :]:
        ax.set_visible(False)
    _, what = effects[0].errors
    figure.suptitle(
        f"metrics against {key} (error bars: {what}; * beyond the seed noise)",
        fontsize=9,
    )
    figure.supxlabel(key, fontsize=8)
    figure.tight_layout()
    return figure
