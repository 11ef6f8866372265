"""The sections of the page as HTML: a sweep's definition, the notes above the metrics table
(feature extractors, evaluation settings, the real-vs-real floor), each group's part (a sweep's
is in ``parameter_section``), and every other picture the runs hold."""

from __future__ import annotations

import html
from typing import Any

from genimg.experiments.report.collect import Group
from genimg.experiments.report.curves import learning_curves
from genimg.experiments.report.formatting import MISSING, format_number, value_text
from genimg.experiments.report.metrics import METRICS
from genimg.experiments.report.omissions import omissions
from genimg.experiments.report.parameter_section import RECONSTRUCTIONS, image_html, sweep_sections
from genimg.experiments.report.pictures import figure, other_pictures, picture_strip
from genimg.experiments.report.prose import describe_runs
from genimg.experiments.report.records import QUALITY_KEYS, extractor_accuracy, number
from genimg.experiments.report.table import Table


def definition_html(group: Group) -> str:
    """A sweep's definition: parameters and values (base values in bold), mode, seeds, base
    overrides, evaluation settings, and the variants not started or not finished."""
    e = html.escape
    sweep = group.sweep
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
    return "".join(f'<p class="note">{n}</p>' for n in notes) + floor_html(evaluations)


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
