"""The metrics table written out: as an HTML table (best values highlighted, arrows giving each
column's direction) and as CSV records in full precision (report.csv)."""

from __future__ import annotations

import csv
import html
import io

from genimg.experiments.report.formatting import format_cell
from genimg.experiments.report.table import Table


def table_records(table: Table) -> tuple[list[str], list[list[str]]]:
    """The table as CSV rows: run, family, seeds, then each column's mean (and, with seeds, the
    sample std and the number of runs behind the mean: everything the report's t-tests use).
    Numbers are written in full precision; a missing value is an empty field."""
    header = ["run", "family", "seeds"]
    for col in table.columns:
        header.append(col.title)
        if table.any_std:
            header += [f"{col.title} std", f"{col.title} n"]
    records = []
    for r, row in enumerate(table.rows):
        record = [row.label, row.family, str(len(row.runs))]
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
    lines = [
        '<table class="metrics" id="metrics"><thead><tr><th>run</th><th>family</th><th>seeds</th>'
        f"{head}</tr></thead><tbody>"
    ]
    for r, row in enumerate(table.rows):
        tds = []
        for c, col in enumerate(table.columns):
            cell = table.cells[r][c]
            classes = ["num"] + (["best"] if r in table.best[c] else []) + (["missing"] if cell.mean is None else [])
            notes = {s.note for run in row.runs if (s := run.scores.get(col.metric.key)) and s.note}
            title = f' title="{e(", ".join(sorted(notes)))}"' if notes else ""
            tds.append(f'<td class="{" ".join(classes)}"{title}>{e(format_cell(cell, col.metric))}</td>')
        lines.append(
            f'<tr><th scope="row">{e(row.label)}</th><td>{e(row.family)}</td>'
            f'<td class="num">{len(row.runs)}</td>{"".join(tds)}</tr>'
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)
