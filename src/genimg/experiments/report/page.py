"""The page: report.html with report.csv beside it (``build_report``), and its parts in page
order: whether the variants trained at equal compute, each sweep's definition, the notes above
the metrics table (feature extractors, evaluation settings, the likelihood, the real-vs-real
floor), quality against training cost, each group's part (a sweep: the effect of each swept
parameter; runs compared without a sweep: the range of each metric), what is left out and why,
and every other picture the runs hold.

The page has no external resources and no JavaScript: pictures are data URIs and the style
sheet (``report.css``, shipped with the package) is inlined.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from typing import Any

from genimg.experiments.report.collect import QUALITY_KEYS, Group, Row, RunRecord, collect, extractor_accuracy, number
from genimg.experiments.report.effects import ALPHA, Effect, effect_sentence, effects_figure, parameter_effects
from genimg.experiments.report.figures import (
    cost_figure,
    cost_points,
    figure,
    image_html,
    learning_curves,
    other_pictures,
    picture_strip,
    training_fid_floor,
)
from genimg.experiments.report.table import (
    METRICS,
    MISSING,
    Table,
    budget_text,
    build_table,
    format_number,
    table_csv,
    table_html,
    value_text,
)
from genimg.io import write_text
from genimg.runs.pretrained_copy import resolve_run_path

RECONSTRUCTIONS = "test images (odd rows) and reconstructions"  # how reconstructions.png is laid out


def style_sheet() -> str:
    return resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")


def render_report(groups: list[Group]) -> tuple[str, str]:
    """(html, csv) for the groups."""
    rows = [row for g in groups for row in g.rows]
    table = build_table(rows)
    titles = ", ".join(g.title for g in groups)
    body = [f"<h1>genimg report: {html.escape(titles)}</h1>"]
    compute = compute_html(rows)
    if compute:
        body.append(compute)
    for group in groups:
        if group.sweep is not None:
            body.append(definition_html(group))
    if not rows:
        body.append('<p class="note">No run has started yet.</p>')
    body.append("<h2>Metrics</h2>")
    body.append(metrics_notes_html(table, groups))
    body.append(f'<div class="wide">{table_html(table)}</div>')
    body.append('<p class="note">The same table is in report.csv beside this page.</p>')
    if len(groups) > 1:
        body.append(f'<p class="summary">Across all {len(rows)} rows: {html.escape(describe_runs(rows, table))}</p>')
    cost = cost_html(rows)
    if cost:
        body.append(cost)
    for group in groups:
        body.extend(p for p in group_sections(group, table) if p)
    body.append(more_pictures_html(groups))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>genimg report: {html.escape(titles)}</title><style>\n{style_sheet()}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return page, table_csv(table)


def build_report(paths: list[str | Path], out: str | Path | None = None) -> Path:
    """Write report.html (and report.csv beside it) for sweep and/or run directories.

    The default place is ``DIR/report.html`` for one directory and ``./report.html`` for several.
    ``pretrained:NAME`` stands for the cache copy of that shipped model.
    """
    paths = [resolve_run_path(p) for p in paths]
    groups = collect(paths)
    if out is None:
        out = Path(paths[0]) / "report.html" if len(paths) == 1 else Path("report.html")
    out = Path(out)
    if out.suffix.lower() != ".html":
        out = out / "report.html"
    page, table = render_report(groups)
    write_text(out, page)
    write_text(out.with_suffix(".csv"), table)
    return out


def compute_html(rows: list[Row]) -> str:
    """Whether the runs trained at equal compute (one ``train.budget`` for all), said near the
    top: between variants trained for different budgets, or for a number of epochs, a difference
    in quality is partly a difference in cost. Empty for fewer than two runs."""
    runs = [run for row in rows for run in row.runs]
    if len(runs) < 2:
        return ""
    budgets = {budget_text(run) for run in runs}
    if len(budgets) == 1 and "none" not in budgets:
        return (
            f'<p class="summary compute">All variants trained at equal compute: {html.escape(budgets.pop())} each '
            "(<code>train.budget</code>).</p>"
        )
    if budgets == {"none"}:
        why = (
            "no run had a compute budget (<code>train.budget</code>), so each trained for its number of epochs "
            "and their costs differ (train CPU in the table)"
        )
    else:
        why = "their compute budgets differ, or some runs had none (budget and train CPU in the table)"
    return f'<p class="summary compute">The variants were <b>not</b> trained at equal compute: {why}.</p>'


def definition_html(group: Group) -> str:
    """A sweep's definition: parameters and values (base values in bold), mode, seeds, base
    overrides, evaluation settings, and the variants not started or not finished."""
    e = html.escape
    sweep = group.sweep
    assert sweep is not None, "only a sweep's group has a definition"
    parts = [
        f"<h2>Sweep {e(group.title)}</h2>",
        f"<p>family <b>{e(sweep.family)}</b>, mode <b>{e(sweep.mode)}</b>, "
        f"{len(sweep.variants)} runs ({len(group.rows)} variants x {len(sweep.seeds)} seed(s): "
        f"train.seed = {e(', '.join(map(str, sweep.seeds)))}), "
        f"created {e(sweep.created or '?')}, directory <code>{e(str(sweep.path))}</code></p>",
    ]
    if sweep.parameters:
        rows = "".join(
            f"<tr><th>{e(k)}</th><td>"
            + ", ".join(("<b>%s</b>" if v == group.base_values.get(k) else "%s") % e(value_text(v)) for v in vs)
            + "</td></tr>"
            for k, vs in sweep.parameters.items()
        )
        parts.append(
            "<table><thead><tr><th>parameter</th><th>values (base value in bold)</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    parts.append(
        '<p class="note">A parameter\'s base value is its value in the base config when that value is listed, '
        "otherwise the first listed value. "
        + (
            "One-at-a-time: every run but the base changes one parameter; the base run is shared."
            if sweep.mode == "one-at-a-time"
            else "Grid: the table lists every combination; each parameter's figures and paragraph compare the runs "
            "where the other parameters have their base values."
        )
        + "</p>"
    )
    base = ", ".join(f"{k}={value_text(v)}" for k, v in sweep.base.items()) or "none (the family's defaults)"
    parts.append(f"<p>base overrides: <code>{e(base)}</code></p>")
    evaluation = sweep.evaluation
    parts.append(
        "<p>evaluation (the same for every run): "
        + (f"<code>{e(', '.join(f'{k}={v}' for k, v in evaluation.items()))}</code>" if evaluation else "none")
        + "</p>"
    )
    if group.missing:
        parts.append(
            f'<p class="note">Not started or not found yet: {e(", ".join(group.missing))}. '
            f"Continue with <code>genimg sweep --resume {e(str(sweep.path))}</code>.</p>"
        )
    unfinished = [r.label for r in group.rows for run in r.runs if not run.finished]
    if unfinished:
        parts.append(
            f'<p class="note">Training not finished: {e(", ".join(sorted(set(unfinished))))} '
            "(their numbers are partial or missing).</p>"
        )
    return "\n".join(parts)


def metrics_notes_html(table: Table, groups: list[Group]) -> str:
    """What the table's numbers are: which feature extractors made the scores (and how well they
    classify), the evaluation's sample counts, the NLL bound, and the real-vs-real floor."""
    e = html.escape
    notes = []
    split = {k: ids for k, ids in table.extractors.items() if len(ids) > 1}
    all_ids = sorted({i for ids in table.extractors.values() for i in ids if i})
    if split:
        split_ids = sorted({i for ids in split.values() for i in ids})
        notes.append(
            "Scores were measured through different feature extractors ("
            + ", ".join(f"<code>{e(i or 'none recorded')}</code>" for i in split_ids)
            + "). Scores from different extractors are not comparable, so each extractor has its own columns."
        )
    elif all_ids:
        notes.append(f"FID, KID, IS and precision/recall are measured in the features of <code>{e(all_ids[0])}</code>.")
    evaluations = [run.evaluation for g in groups for r in g.rows for run in r.runs if run.evaluation]
    accuracies = sorted(
        {(str(ev.get("extractor")), acc) for ev in evaluations if (acc := extractor_accuracy(ev)) is not None}
    )
    if accuracies:
        notes.append(
            "Extractor test accuracy: " + "; ".join(f"<code>{e(i)}</code> {acc:.2%}" for i, acc in accuracies) + "."
        )
    settings = sorted({(len(ev.get("seeds") or []), ev.get("n")) for ev in evaluations if "scores" in ev}, key=str)
    if settings:
        notes.append(
            "Each sample-quality score is the mean over the evaluator's sampling seeds: "
            + "; ".join(f"{n} samples x {k} seeds" for k, n in settings)
            + "."
        )
    notes.append(
        "The test NLL bound is the tightest recorded upper bound on the test negative log-likelihood, in bits "
        "per dimension (hover a cell for the bound and its nats per image). FID/floor is FID divided by the "
        "real-vs-real floor's FID at the same sample count (1 would be as good as real data). Training time is "
        "wall-clock (parallel runs share the cores); train CPU is the process's CPU time in minutes. "
        f"Best value per column highlighted; {MISSING} means not recorded. "
        "With several training seeds: mean ± sample std over them."
    )
    estimates = sorted({s.note for r in table.rows for run in r.runs if (s := run.scores.get("nll_estimate"))})
    if estimates:
        notes.append(
            f"The test NLL estimate ({e('; '.join(estimates))}) is not a bound: the evaluation summed the diffusion "
            "bound over one random timestep per block of t-stride timesteps, an unbiased estimate of the bound that "
            "may fall on either side of it. It has its own column and is never ranked against a bound."
        )
    return "".join(f'<p class="note">{n}</p>' for n in notes) + floor_html(evaluations)


def cost_html(rows: list[Row]) -> str:
    """Quality against training cost: FID measured during training against the training
    CPU-minutes spent, every run on the same axes; empty when no run measured FID during
    training (each group's list of what is left out says so)."""
    drawn = cost_figure([(r.label, r.runs) for r in rows])
    if drawn is None:
        return ""
    floors = any(training_fid_floor(run) is not None and cost_points(run)[0] for r in rows for run in r.runs)
    note = (
        "FID measured during training (<code>train.fid_every</code>: against the validation split, in the "
        "features of the dataset's classifier) against the training CPU-minutes spent so far: one line per run, "
        "labelled as its row of the table (several seeds: one line each, in one colour). Read the variants at "
        "equal cost along a vertical line."
    )
    if floors:
        note += (
            " FID/floor divides by the evaluation's real-vs-real floor, for the runs evaluated in the same "
            "features at the same sample count as the checks during training."
        )
    return f'<h2>Quality against training cost</h2>\n<p class="note">{note}</p>\n' + image_html(
        drawn, "FID against training CPU-minutes", "curves"
    )


def floor_html(evaluations: list[dict[str, Any]]) -> str:
    """The evaluator's real-vs-real floor (train subsets against the test reference at the same
    sample count): what perfect samples would score, one line per extractor and sample count."""
    floors: dict[tuple[str, Any], dict[str, Any]] = {}
    for ev in evaluations:
        if isinstance(ev.get("floor"), dict):
            floors.setdefault((str(ev.get("extractor")), ev.get("n")), ev["floor"])
    if not floors:
        return ""
    keys = [k for k in QUALITY_KEYS if any(k in f for f in floors.values())]
    titles = {m.key: m.title for m in METRICS}
    head = "".join(f"<th>{html.escape(titles.get(k, k))}</th>" for k in keys)
    lines = []
    for (extractor, n), floor in floors.items():
        cells = "".join(f'<td class="num">{html.escape(format_number(number(floor.get(k))))}</td>' for k in keys)
        lines.append(f'<tr><td><code>{html.escape(extractor)}</code></td><td class="num">{n}</td>{cells}</tr>')
    return (
        '<p class="note">Real-vs-real floor: random train subsets scored against the same test reference at the '
        "same sample count, i.e. what perfect samples would score "
        "(FID is strongly biased at small sample counts).</p>"
        f'<table class="floor"><thead><tr><th>extractor</th><th>samples</th>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def group_sections(group: Group, table: Table) -> list[str]:
    """A group's part of the page. A sweep: the effect of each swept parameter
    (``parameter_section``). Single runs: the range of each metric, curves and pictures."""
    if group.sweep is not None:
        if not group.sweep.parameters:
            return [picture_strip(group.rows, "samples.png", lambda r: f"{r.label}: samples")]
        return sweep_sections(group, table)
    parts = [f"<h2>{html.escape(group.title.capitalize())}</h2>"]
    if len(group.rows) > 1:
        parts.append(f'<p class="summary">{html.escape(describe_runs(group.rows, table))}</p>')
    left_out = omissions(group)
    if left_out:
        parts.append(f'<p class="note">Left out: {html.escape("; ".join(left_out))}.</p>')
    drawn = learning_curves([(r.label, r.runs) for r in group.rows], "learning curves")
    parts.append(image_html(drawn, "learning curves", "curves"))
    parts.append(picture_strip(group.rows, "samples.png", lambda r: f"{r.label}: samples"))
    parts.append(picture_strip(group.rows, "reconstructions.png", lambda r: f"{r.label}: {RECONSTRUCTIONS}"))
    return parts


def more_pictures_html(groups: list[Group]) -> str:
    """Every other picture the runs hold (explore/, recover/, outliers/ ...), one block per run."""
    e = html.escape
    blocks = []
    for group in groups:
        for row in group.rows:
            for run in row.runs:
                pictures = other_pictures(run.path)
                if pictures:
                    figures = "".join(figure(p, str(p.relative_to(run.path))) for p in pictures)
                    summary = f"{e(row.label)} ({e(run.path.name)}): {len(pictures)} picture(s)"
                    blocks.append(
                        f'<details open><summary>{summary}</summary><div class="strip">{figures}</div></details>'
                    )
    if not blocks:
        return ""
    return "<h2>More pictures from the runs</h2>\n" + "\n".join(blocks)


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


def _by_family(group: Group) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = {}
    for row in group.rows:
        for run in row.runs:
            out.setdefault(run.family, []).append(run)
    return out


def _names(families: list[str]) -> str:
    return ", ".join(families)


def omissions(group: Group) -> list[str]:
    """One plain-text reason per kind of figure or number left out for whole families: what no
    run of a family can have, or what none of its runs recorded."""
    families = {f: runs for f, runs in _by_family(group).items() if any(run.finished for run in runs)}
    notes = []
    no_reconstructions = sorted(
        f for f, runs in families.items() if not any((run.path / "reconstructions.png").exists() for run in runs)
    )
    if no_reconstructions:
        notes.append(
            f"reconstructions for {_names(no_reconstructions)}: these models do not reconstruct "
            "(the trainer draws reconstructions.png only for models with the reconstruct capability)"
        )
    evaluated = {f for f, runs in families.items() if any(run.evaluation.get("scores") for run in runs)}
    asked = ((group.sweep.evaluation or {}) if group.sweep is not None else {}).get("metrics")
    # a bound or an estimate of one: either says the family has a likelihood
    measured = {f for f, runs in families.items() for run in runs if {"nll", "nll_estimate"} & run.scores.keys()}
    no_likelihood = sorted(set(families) - measured)
    if no_likelihood:
        skipped = asked and "likelihood" not in asked
        reason = "the sweep's evaluation did not measure it" if skipped else "these models have no likelihood"
        notes.append(f"the test NLL bound for {_names(no_likelihood)}: {reason}")
    not_evaluated = sorted(set(families) - evaluated)
    if not_evaluated:
        notes.append(
            f"sample-quality scores (FID, KID, IS, precision/recall, class entropy) for {_names(not_evaluated)}: "
            "no run was evaluated (genimg evaluate RUN, then rebuild the report)"
        )
    no_cost = sorted(f for f, runs in families.items() if not any(cost_points(run)[0] for run in runs))
    if no_cost:
        notes.append(
            f"FID against training CPU-minutes for {_names(no_cost)}: no run measured FID during training "
            "(train.fid_every=K measures it every K epochs)"
        )
    return notes
