"""The whole page, and ``build_report``: report.html with report.csv beside it.

The page has no external resources and no JavaScript: pictures are data URIs and the style
sheet (``report.css``, shipped with the package) is inlined.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from genimg.experiments.report.collect import Group, collect
from genimg.experiments.report.prose import describe_runs
from genimg.experiments.report.sections import definition_html, group_sections, metrics_notes_html, more_pictures_html
from genimg.experiments.report.table import build_table
from genimg.experiments.report.table_output import table_csv, table_html
from genimg.io import write_text
from genimg.runs.pretrained_copy import resolve_run_path


def style_sheet() -> str:
    return resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")


def render_report(groups: list[Group]) -> tuple[str, str]:
    """(html, csv) for the groups."""
    rows = [row for g in groups for row in g.rows]
    table = build_table(rows)
    titles = ", ".join(g.title for g in groups)
    body = [f"<h1>genimg report: {html.escape(titles)}</h1>"]
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
