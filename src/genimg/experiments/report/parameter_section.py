"""A sweep's part of the page that answers "what did each parameter change?": a note on how
the effects are tested, what is left out and why (once), then per swept parameter its metrics
plotted against its values, one sentence per metric, the sample grids (and reconstructions)
side by side in the plot's order, and the learning curves."""

from __future__ import annotations

import html

from genimg.experiments.report.collect import Group, Row
from genimg.experiments.report.curves import learning_curves
from genimg.experiments.report.effect_plots import effects_figure
from genimg.experiments.report.effect_text import effect_sentence
from genimg.experiments.report.effects import ALPHA, Effect, parameter_effects
from genimg.experiments.report.formatting import value_text
from genimg.experiments.report.omissions import omissions
from genimg.experiments.report.pictures import data_uri, picture_strip
from genimg.experiments.report.table import Table
from genimg.plotting import figure_png

RECONSTRUCTIONS = "test images (odd rows) and reconstructions"  # how reconstructions.png is laid out


def image_html(figure, alt: str, css: str) -> str:
    if figure is None:
        return ""
    return f'<div class="{css}"><img src="{data_uri(figure_png(figure))}" alt="{html.escape(alt)}"></div>'


def method_note(group: Group, effects: list[Effect]) -> str:
    """How the effects are measured and tested, and how many tests the page makes."""
    tested = [e for e in effects if e.noise.sd is not None]
    untested = [e for e in effects if e.noise.sd is None]
    parts = [
        "<b>How to read the effects.</b> Each sentence compares a metric at the parameter's first and last value "
        "(every other swept parameter at its base value), giving the change, its percentage, and whether the "
        "change is better."
    ]
    if tested:
        runs = sum(len(r.runs) for r in group.rows)
        parts.append(
            "With several training seeds, numbers are mean ± sample sd over the seeds, and the test is a two-sided "
            f"t-test at the {ALPHA:.0%} level of the two means, with the seed-to-seed sd pooled over all "
            f"{len(group.rows)} variants of this sweep ({runs} runs; degrees of freedom = runs − variants where "
            "every run has the metric). Pooling assumes the seed noise is about the same at every setting; in "
            "exchange it is far more sensitive than Welch's test on two settings alone, which with two seeds each "
            "has about one degree of freedom and needs t > 12.7. <i>Beyond the seed noise</i> means p < 0.05: "
            f"with {len(tested)} such tests in this section, about {len(tested) * ALPHA:.1f} could pass by "
            "chance alone. report.csv holds every number the test uses (mean, std and n per cell)."
        )
    if untested:
        parts.append(
            "With one training seed per setting the seed-to-seed noise is unknown and no test is made: the "
            "error bars and the spreads quoted are the evaluator's sd over its sampling seeds (the same trained "
            "model, fresh samples), a lower bound on the noise. Sweep with <code>--seeds 2</code> or more to test "
            "the effects."
        )
    return f'<p class="note method">{" ".join(parts)}</p>'


def sweep_sections(group: Group, table: Table) -> list[str]:
    """The method note, the omissions (once), then one section per swept parameter."""
    sections, effects = [], []
    for key, rows in group.parameter_slices():
        found = parameter_effects(key, rows, group.rows, table)
        effects.extend(found)
        sections.append(parameter_section(group, key, rows, found))
    parts = [f"<h2>Effects of each parameter: {html.escape(group.title)}</h2>"]
    if effects:
        parts.append(method_note(group, effects))
    left_out = omissions(group)
    if left_out:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in left_out)
        parts.append(f'<div class="note">Left out, said here once rather than as empty cells:<ul>{items}</ul></div>')
    return parts + sections


def parameter_section(group: Group, key: str, rows: list[Row], effects: list[Effect]) -> str:
    e = html.escape

    def label(row: Row) -> str:
        return f"{key}={value_text(row.values.get(key))}"

    values = ", ".join(value_text(r.values.get(key)) for r in rows)
    seeds = sorted({len(r.runs) for r in rows})
    parts = [
        f'<section class="parameter"><h3>{e(group.title)}: {e(key)}</h3>',
        f'<p class="summary">{e(key)} took the values {e(values)}, in this order in the figure and the pictures '
        f"below; every other swept parameter at its base value; {e(' or '.join(map(str, seeds)))} training "
        "seed(s) per value.</p>",
    ]
    if len(rows) < 2:
        parts.append('<p class="note">Fewer than two values have a run yet: nothing to compare.</p>')
    parts.append(image_html(effects_figure(key, effects), f"metrics against {key}", "effects-figure"))
    if effects:
        parts.append('<ul class="effects">' + "".join(effect_sentence(x) for x in effects) + "</ul>")
    parts.append(picture_strip(rows, "samples.png", lambda r: f"{label(r)}: samples (first seed)"))
    parts.append(picture_strip(rows, "reconstructions.png", lambda r: f"{label(r)}: {RECONSTRUCTIONS}"))
    drawn = learning_curves([(label(r), r.runs) for r in rows], f"learning curves: {key}")
    parts.append(image_html(drawn, f"learning curves for {key}", "curves"))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)
