"""The sentence the page says about one effect: the direction and size of the change from the
parameter's first value to its last, whether it is better, and how it compares with the noise.

Each sentence is an ``<li class="effect">`` whose data attributes name the metric's column and
the two report.csv rows it compares, so a reader (or a test) can recompute the verdict from
the CSV alone.
"""

from __future__ import annotations

import html

from genimg.experiments.report.effects import BEYOND, UNCHANGED, Effect
from genimg.experiments.report.formatting import MINUS, distinct_pair, format_number, percent_change, value_text
from genimg.experiments.report.table import Cell


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
    ends = (effect.start.mean, effect.end.mean)
    inner = [(i, c) for i, c in enumerate(effect.cells) if effect.first < i < effect.last and c.mean is not None]
    if not inner:
        return ""
    pick = max if effect.column.metric.higher_is_better else min
    i, cell = pick(inner, key=lambda p: p[1].mean)
    if pick(ends + (cell.mean,)) != cell.mean or cell.mean in ends:
        return ""
    return f" It was best in between, at {setting(effect, i)} ({_with_sd(format_number(cell.mean), cell)})."
