"""The comparison report: one self-contained HTML page, rebuilt from run directories alone.

``build_report(paths)`` takes sweep directories (``sweep.json`` beside their runs) and/or
single run directories, and writes ``report.html`` with ``report.csv`` beside it:

- the sweep definition (parameters, values, base values, base overrides, seeds, evaluation);
- one metrics table, one row per variant (mean ± sample std over seeds): test NLL bound,
  FID, KID, IS with its sharpness S and diversity D, precision, recall, training time and
  parameter count. The best value of each column is highlighted (lower or higher is better
  per column); missing values read "—". Scores made through different feature extractors
  are never put in one column: each extractor gets its own columns and the page says so;
- per swept parameter: overlaid learning curves, sample grids and reconstructions side by
  side, and a paragraph generated from the numbers (direction and size of every change;
  with seeds, whether the change is within one std);
- every other picture the runs hold (explore/, recover/, outliers/ ...), found by walking
  the run directories.

The page has no external resources and no JavaScript: images are PNG data URIs, the CSS is
inline. Figures are drawn with matplotlib's Agg backend.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from genimg.errors import UserError
from genimg.runs.directory import RunDir
from genimg.io import write_text

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024  # a larger picture is listed by path instead of embedded
MINUS = "\u2212"
MISSING = "\u2014"


# ---------------------------------------------------------------------------- what a run holds


@dataclass(frozen=True)
class Score:
    value: float
    extractor: str | None = None  # the feature extractor behind a sample-quality score
    note: str = ""  # e.g. which likelihood bound


@dataclass
class RunRecord:
    path: Path
    family: str
    summary: dict[str, Any]
    evaluation: dict[str, Any]
    history: list[dict[str, Any]]
    scores: dict[str, Score]

    @property
    def finished(self) -> bool:
        return bool(self.summary.get("finished"))


def read_run(path: str | Path) -> RunRecord:
    run = RunDir.open(path)
    summary, evaluation = run.summary(), run.evaluation()
    family = summary.get("family") or _config_family(run)
    return RunRecord(run.path, family, summary, evaluation, run.metrics(), run_scores(summary, evaluation))


def _config_family(run: RunDir) -> str:
    import yaml

    return str((yaml.safe_load(run.config_file.read_text()) or {}).get("family", "?"))


def _number(value: Any) -> float | None:
    if isinstance(value, dict):  # {"mean": ..., "std": ...} or {"value": ...}
        value = value.get("value", value.get("mean"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def likelihood_score(likelihood: dict[str, Any]) -> Score | None:
    """The tightest test NLL bound a run recorded (every bound is an upper bound on the NLL)."""
    bounds = {k[len("nll_"): -len("_nats")]: _number(v) for k, v in likelihood.items() if k.startswith("nll_") and k.endswith("_nats")}
    bounds = {k: v for k, v in bounds.items() if v is not None}
    if not bounds:
        return None
    name = min(bounds, key=bounds.get)
    return Score(bounds[name], note=f"{name} bound")


def run_scores(summary: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Score]:
    """The numbers the table shows, from summary.json and eval/metrics.json."""
    scores: dict[str, Score] = {}
    nll = likelihood_score(evaluation.get("likelihood") or {}) or likelihood_score(summary.get("likelihood") or {})
    if nll:
        scores["nll"] = nll
    scores.update(sample_quality_scores(evaluation))
    for key in ("train_time_s", "train_cpu_s", "parameters"):
        value = _number(summary.get(key))
        if value is not None:
            scores[key] = Score(value)
    return scores


# eval/metrics.json (genimg.evaluate.evaluator) keeps each score under "scores" as
# {"mean", "std", "values"} over its sampling seeds, with the extractor's id beside them.
QUALITY_KEYS = ("fid", "kid", "is", "sharpness", "diversity", "precision", "recall", "class_entropy")


def sample_quality_scores(evaluation: dict[str, Any]) -> dict[str, Score]:
    """FID, KID, IS (with S and D), precision, recall and class entropy, each with its extractor id."""
    extractor = evaluation.get("extractor")
    scores: dict[str, Score] = {}
    for key in QUALITY_KEYS:
        number = _number((evaluation.get("scores") or {}).get(key))
        if number is not None:
            scores[key] = Score(number, str(extractor) if extractor else None)
    return scores


def extractor_accuracy(evaluation: dict[str, Any]) -> float | None:
    return _number((evaluation.get("extractor_identity") or {}).get("test_accuracy"))


# ---------------------------------------------------------------------------- rows and groups


@dataclass
class Row:
    """One line of the table: a variant, with its runs (one per seed)."""

    label: str
    runs: list[RunRecord]
    values: dict[str, Any] = field(default_factory=dict)  # swept parameter values

    @property
    def family(self) -> str:
        return self.runs[0].family if self.runs else "?"

    def first(self) -> RunRecord | None:
        return self.runs[0] if self.runs else None


@dataclass
class Group:
    """One input of the report: a sweep, or the single runs given together."""

    title: str
    rows: list[Row]
    sweep: Any = None  # genimg.experiments.sweep.Sweep
    base_values: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # variants with no run directory yet

    def parameter_slices(self) -> list[tuple[str, list[Row]]]:
        """Per swept parameter, the rows where every other parameter has its base value, ordered
        by value (ascending when the values are numbers, else as listed)."""
        if self.sweep is None:
            return []
        out = []
        for key, values in self.sweep.parameters.items():
            rows = [r for r in self.rows if r.values and all(r.values.get(k) == v for k, v in self.base_values.items() if k != key)]
            order = sorted(values) if _all_numbers(values) else list(values)
            rows.sort(key=lambda r: _index(order, r.values.get(key)))
            out.append((key, rows))
        return out


def _all_numbers(values: Iterable[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _index(order: list[Any], value: Any) -> int:
    return order.index(value) if value in order else len(order)


def collect(paths: list[str | Path]) -> list[Group]:
    """Read every input: a sweep directory becomes a group; single run directories share one."""
    from genimg.experiments.sweep import Sweep, is_sweep_dir

    if not paths:
        raise UserError("give at least one sweep or run directory, e.g. genimg report runs/sweep-vae-...")
    groups: list[Group] = []
    singles: list[Row] = []
    for path in map(Path, paths):
        if is_sweep_dir(path):
            groups.append(_sweep_group(Sweep.load(path)))
        elif (path / "config.yaml").exists():
            singles.append(Row(path.name, [read_run(path)]))
        elif path.exists():
            raise UserError(f"{path} is neither a sweep directory (sweep.json) nor a run directory (config.yaml)")
        else:
            raise UserError(f"{path} does not exist; pass sweep or run directories")
    if singles:
        _disambiguate(singles)
        groups.append(Group("compared runs", singles))
    if len(groups) > 1:  # labels must stay unique in the combined table
        for group in groups:
            if group.sweep is not None:
                for row in group.rows:
                    row.label = f"{group.title}/{row.label}"
    return groups


def _sweep_group(sweep) -> Group:
    recorded = json.loads((sweep.path / "sweep.json").read_text()).get("base_values")
    group = Group(sweep.path.name, [], sweep, recorded if recorded is not None else sweep.base_values())
    for name, variants in sweep.groups().items():
        runs = []
        for variant in variants:
            run_dir = sweep.run_dir(variant)
            if (run_dir / "config.yaml").exists():
                runs.append(read_run(run_dir))
            else:
                group.missing.append(variant.name)
        if runs:
            group.rows.append(Row(name, runs, dict(variants[0].values)))
    return group


def _disambiguate(rows: list[Row]) -> None:
    names = [r.label for r in rows]
    for row in rows:
        if names.count(row.label) > 1:
            row.label = f"{row.runs[0].path.parent.name}/{row.label}"


# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    better: str  # "lower" or "higher"
    per_extractor: bool = False  # a sample-quality score: only comparable within one extractor
    in_paragraph: bool = True
    integer: bool = False


METRICS = [
    Metric("nll", "NLL bound (nats/image)", "lower"),
    Metric("fid", "FID", "lower", per_extractor=True),
    Metric("kid", "KID", "lower", per_extractor=True),
    Metric("is", "IS", "higher", per_extractor=True),
    Metric("sharpness", "IS sharpness S", "higher", per_extractor=True, in_paragraph=False),
    Metric("diversity", "IS diversity D", "higher", per_extractor=True, in_paragraph=False),
    Metric("precision", "precision", "higher", per_extractor=True),
    Metric("recall", "recall", "higher", per_extractor=True),
    Metric("class_entropy", "class entropy (nats)", "higher", per_extractor=True, in_paragraph=False),
    Metric("train_time_s", "train time (s)", "lower", in_paragraph=False),
    Metric("train_cpu_s", "train CPU (s)", "lower"),
    Metric("parameters", "parameters", "lower", integer=True),
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
    def of(cls, values: list[float]) -> "Cell":
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
    or all are equal (nothing stands out)."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(present) < 2 or len({v for _, v in present}) == 1:
        return set()
    target = min(v for _, v in present) if better == "lower" else max(v for _, v in present)
    return {i for i, v in present if v == target}


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


def format_cell(cell: Cell, metric: Metric) -> str:
    text = format_number(cell.mean, metric.integer and cell.std is None)
    if cell.std is not None:
        text += f" ± {format_number(cell.std)}"
    return text


def table_records(table: Table) -> tuple[list[str], list[list[str]]]:
    """The table as CSV rows: run, family, seeds, then each column's mean (and std with seeds).
    Numbers are written in full precision; a missing value is an empty field."""
    header = ["run", "family", "seeds"]
    for col in table.columns:
        header.append(col.title)
        if table.any_std:
            header.append(f"{col.title} std")
    records = []
    for r, row in enumerate(table.rows):
        record = [row.label, row.family, str(len(row.runs))]
        for c, _ in enumerate(table.columns):
            cell = table.cells[r][c]
            record.append("" if cell.mean is None else repr(cell.mean))
            if table.any_std:
                record.append("" if cell.std is None else repr(cell.std))
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
        f'<th title="{"lower" if col.metric.better == "lower" else "higher"} is better">{e(col.title)} '
        f'{"↓" if col.metric.better == "lower" else "↑"}</th>'
        for col in table.columns
    )
    lines = [f'<table class="metrics" id="metrics"><thead><tr><th>run</th><th>family</th><th>seeds</th>{head}</tr></thead><tbody>']
    for r, row in enumerate(table.rows):
        tds = []
        for c, col in enumerate(table.columns):
            cell = table.cells[r][c]
            classes = ["num"] + (["best"] if r in table.best[c] else []) + (["missing"] if cell.mean is None else [])
            notes = {s.note for run in row.runs if (s := run.scores.get(col.metric.key)) and s.note}
            title = f' title="{e(", ".join(sorted(notes)))}"' if notes else ""
            tds.append(f'<td class="{" ".join(classes)}"{title}>{e(format_cell(cell, col.metric))}</td>')
        lines.append(f'<tr><th scope="row">{e(row.label)}</th><td>{e(row.family)}</td><td class="num">{len(row.runs)}</td>{"".join(tds)}</tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- paragraphs


def _percent(start: float, end: float) -> str:
    if start == 0:
        return ""
    change = (end - start) / abs(start) * 100
    text = f"{change:+.0f}" if abs(change) >= 10 else f"{change:+.1f}" if abs(change) >= 1 else f"{change:+.2g}"
    return f" ({text.replace('-', MINUS)}%)"


def _distinct_pair(a: float, b: float, integer: bool) -> tuple[str, str]:
    """a and b with enough digits that different numbers never read the same."""
    for digits in range(4, 10):
        pair = format_number(a, integer, digits), format_number(b, integer, digits)
        if pair[0] != pair[1] or a == b:
            return pair
    return pair


def describe_parameter(key: str, rows: list[Row], table: Table) -> str:
    """What changed, in numbers, from the parameter's first value to its last (others at base)."""
    if len(rows) < 2:
        return f"{key}: fewer than two finished runs to compare."
    first, last = rows[0], rows[-1]
    a, b = first.values.get(key), last.values.get(key)
    numeric = _all_numbers([r.values.get(key) for r in rows])
    verb = "Raising" if numeric else "Changing"
    index = {id(r): i for i, r in enumerate(table.rows)}
    clauses, extremes = [], []
    for c, col in enumerate(table.columns):
        if not col.metric.in_paragraph:
            continue
        cells = [table.cells[index[id(r)]][c] for r in rows]
        start, end = cells[0], cells[-1]
        if start.mean is None or end.mean is None:
            continue
        name = col.title
        integer = col.metric.integer and start.std is None
        if start.mean == end.mean:
            clause = f"left {name} unchanged at {format_number(start.mean, integer)}"
        else:
            direction = "raised" if end.mean > start.mean else "lowered"
            a_text, b_text = _distinct_pair(start.mean, end.mean, integer)
            clause = f"{direction} {name} from {a_text} to {b_text}{_percent(start.mean, end.mean)}"
            spread = max(s for s in (start.std, end.std) if s is not None) if (start.std is not None or end.std is not None) else None
            if spread is not None and abs(end.mean - start.mean) <= spread:
                clause += " (within one std of the seeds)"
        clauses.append(clause)
        present = [(i, cell.mean) for i, cell in enumerate(cells) if cell.mean is not None]
        if len(rows) > 2 and len(present) > 2:
            pick = min if col.metric.better == "lower" else max
            i, value = pick(present, key=lambda p: p[1])
            if 0 < i < len(rows) - 1 and value not in (start.mean, end.mean):
                word = "lowest" if col.metric.better == "lower" else "highest"
                extremes.append(f"{name} was {word} at {key}={_value_text(rows[i].values.get(key))} ({format_number(value, integer)})")
    if not clauses:
        return f"{verb} {key} from {_value_text(a)} to {_value_text(b)}: no metric was recorded for both runs."
    text = f"{verb} {key} from {_value_text(a)} to {_value_text(b)} {_join(clauses)}."
    if extremes:
        text += " In between, " + _join(extremes) + "."
    return text


def describe_runs(rows: list[Row], table: Table) -> str:
    """For runs without a common parameter: the lowest and highest value of each metric."""
    index = {id(r): i for i, r in enumerate(table.rows)}
    parts = []
    for c, col in enumerate(table.columns):
        if not col.metric.in_paragraph:
            continue
        present = [(r, table.cells[index[id(r)]][c].mean) for r in rows if table.cells[index[id(r)]][c].mean is not None]
        if len(present) < 2:
            continue
        low = min(present, key=lambda p: p[1])
        high = max(present, key=lambda p: p[1])
        integer = col.metric.integer
        parts.append(f"{col.title} ranged from {format_number(low[1], integer)} ({low[0].label}) to {format_number(high[1], integer)} ({high[0].label})")
    if not parts:
        return "Fewer than two runs share a metric."
    text = _join(parts) + "."
    return text[0].upper() + text[1:]


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return format_number(value) if value != 0 else "0"
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


# ---------------------------------------------------------------------------- figures


def curve_keys(runs: list[RunRecord]) -> list[tuple[str, str]]:
    """(key, axis label) of the curves to draw: validation loss and FID where recorded, else the
    training losses (a GAN without FID during training)."""
    has = lambda test: any(test(rec) for run in runs for rec in run.history)  # noqa: E731
    keys = []
    if has(lambda rec: "loss" in (rec.get("val") or {})):
        keys.append(("val/loss", "validation loss"))
    if has(lambda rec: _number(rec.get("fid")) is not None):
        keys.append(("fid", "FID during training (val split)"))
    if not keys:
        train_keys = sorted({k for run in runs for rec in run.history for k in (rec.get("train") or {})})
        keys = [(f"train/{k}", f"training {k}") for k in train_keys[:4]]
    return keys


def curve(run: RunRecord, key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for rec in run.history:
        value: Any = rec
        for part in key.split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        number = _number(value)
        if number is not None and "epoch" in rec:
            xs.append(int(rec["epoch"]))
            ys.append(number)
    return xs, ys


def learning_curves_png(series: list[tuple[str, list[RunRecord]]], title: str) -> bytes | None:
    """Overlaid curves, one panel per recorded quantity; several seeds draw mean ± std."""
    # A bare Figure on the Agg canvas: no pyplot, so a notebook's backend and figures are left alone.
    import numpy as np
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = [run for _, rs in series for run in rs]
    families = sorted({run.family for run in runs})
    panels = [(family, key, label) for key, label in curve_keys(runs) for family in families
              if any(curve(r, key)[0] for r in runs if r.family == family)]
    if not panels:
        return None
    fig = Figure(figsize=(5.4 * len(panels), 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (family, key, label) in zip(axes[0], panels):
        for i, (name, rs) in enumerate(series):
            curves = [curve(r, key) for r in rs if r.family == family]
            curves = [c for c in curves if c[0]]
            if not curves:
                continue
            color = colors[i % len(colors)]
            epochs = sorted(set.intersection(*(set(x) for x, _ in curves)))
            if len(curves) == 1 or not epochs:
                x, y = curves[0]
                ax.plot(x, y, color=color, label=name, lw=1.4)
                continue
            matrix = np.array([[dict(zip(x, y))[e] for e in epochs] for x, y in curves])
            mean, std = matrix.mean(0), matrix.std(0, ddof=1)
            ax.plot(epochs, mean, color=color, label=f"{name} (mean of {len(curves)})", lw=1.4)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{family}: {label}" if len(families) > 1 else label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# ---------------------------------------------------------------------------- the page


def _data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(path: Path, alt: str) -> str:
    mime = IMAGE_TYPES.get(path.suffix.lower())
    size = path.stat().st_size
    if mime is None or size > MAX_EMBEDDED_BYTES:
        return f'<p class="note">{html.escape(str(path))} ({size:,} bytes) is not embedded</p>'
    return f'<img src="{_data_uri(path.read_bytes(), mime)}" alt="{html.escape(alt)}">'


def _figure(path: Path | None, caption: str) -> str:
    body = _img(path, caption) if path is not None and path.exists() else f'<div class="none">{MISSING}</div>'
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _picture_strip(rows: list[Row], file: str, caption_of) -> str:
    """One picture per row, side by side (the first seed's run)."""
    if not any(r.first() and (r.first().path / file).exists() for r in rows):
        return ""
    return '<div class="strip">' + "".join(_figure(r.first().path / file if r.first() else None, caption_of(r)) for r in rows) + "</div>"


SHOWN_ELSEWHERE = {"samples.png", "reconstructions.png"}


def other_pictures(run_path: Path) -> list[Path]:
    """Every picture in a run directory that the report does not show elsewhere: explore/,
    recover/, outliers/, eval/ ..., but not checkpoints or the per-epoch training grids."""
    found = []
    for path in sorted(run_path.rglob("*")):
        rel = path.relative_to(run_path)
        if not path.is_file() or path.suffix.lower() not in IMAGE_TYPES or rel.parts[0] == "checkpoints":
            continue
        if len(rel.parts) == 1 and rel.name in SHOWN_ELSEWHERE:
            continue
        if rel.parts[0] == "samples" and rel.name.startswith("epoch_"):
            continue
        found.append(path)
    return found


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; font-size: .88em; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { background: #d9f2d9; font-weight: bold; }
td.missing { color: #999; }
.wide { overflow-x: auto; }
.strip { display: flex; flex-wrap: wrap; gap: .8em; align-items: flex-start; }
figure { margin: 0; text-align: center; }
figure img { width: 220px; image-rendering: pixelated; border: 1px solid #ddd; }
.curves img { max-width: 100%; image-rendering: auto; border: 0; width: auto; }
figcaption { font-size: .8em; max-width: 220px; word-break: break-all; }
.none { width: 220px; height: 60px; line-height: 60px; color: #999; border: 1px dashed #ccc; }
p.summary { background: #f7f7fb; border-left: 4px solid #99c; padding: .5em .8em; max-width: 75em; }
.note { color: #555; font-size: .9em; max-width: 75em; }
details { margin: .5em 0; } summary { cursor: pointer; font-weight: 600; }
code { background: #f3f3f3; padding: 0 .2em; }
"""


def _definition_html(group: Group) -> str:
    e = html.escape
    sweep = group.sweep
    parts = [f"<h2>Sweep {e(group.title)}</h2>",
             f"<p>family <b>{e(sweep.family)}</b>, mode <b>{e(sweep.mode)}</b>, "
             f"{len(sweep.variants)} runs ({len(group.rows)} variants x {len(sweep.seeds)} seed(s): train.seed = {e(', '.join(map(str, sweep.seeds)))}), "
             f"created {e(sweep.created or '?')}, directory <code>{e(str(sweep.path))}</code></p>"]
    if sweep.parameters:
        rows = "".join(
            f"<tr><th>{e(k)}</th><td>{', '.join(('<b>%s</b>' if v == group.base_values.get(k) else '%s') % e(_value_text(v)) for v in vs)}</td></tr>"
            for k, vs in sweep.parameters.items())
        parts.append(f"<table><thead><tr><th>parameter</th><th>values (base value in bold)</th></tr></thead><tbody>{rows}</tbody></table>")
    parts.append('<p class="note">A parameter\'s base value is its value in the base config when that value is listed, '
                 "otherwise the first listed value. "
                 + ("One-at-a-time: every run but the base changes one parameter; the base run is shared."
                    if sweep.mode == "one-at-a-time" else
                    "Grid: the table lists every combination; each parameter's figures and paragraph compare the runs "
                    "where the other parameters have their base values.") + "</p>")
    base = ", ".join(f"{k}={_value_text(v)}" for k, v in sweep.base.items()) or "none (the family's defaults)"
    parts.append(f"<p>base overrides: <code>{e(base)}</code></p>")
    evaluation = sweep.evaluation
    parts.append("<p>evaluation (the same for every run): "
                 + (f"<code>{e(', '.join(f'{k}={v}' for k, v in evaluation.items()))}</code>" if evaluation else "none")
                 + "</p>")
    if group.missing:
        parts.append(f'<p class="note">Not started or not found yet: {e(", ".join(group.missing))}. '
                     f"Continue with <code>genimg sweep --resume {e(str(sweep.path))}</code>.</p>")
    unfinished = [r.label for r in group.rows for run in r.runs if not run.finished]
    if unfinished:
        parts.append(f'<p class="note">Training not finished: {e(", ".join(sorted(set(unfinished))))} '
                     "(their numbers are partial or missing).</p>")
    return "\n".join(parts)


def _extractor_note(table: Table, groups: list[Group]) -> str:
    e = html.escape
    notes = []
    split = {k: ids for k, ids in table.extractors.items() if len(ids) > 1}
    all_ids = sorted({i for ids in table.extractors.values() for i in ids if i})
    if split:
        notes.append("Scores were measured through different feature extractors ("
                     + ", ".join(f"<code>{e(i or 'none recorded')}</code>" for i in sorted({i for ids in split.values() for i in ids}))
                     + "). Scores from different extractors are not comparable, so each extractor has its own columns.")
    elif all_ids:
        notes.append(f"FID, KID, IS and precision/recall are measured in the features of <code>{e(all_ids[0])}</code>.")
    evaluations = [run.evaluation for g in groups for r in g.rows for run in r.runs if run.evaluation]
    accuracies = sorted({(str(ev.get("extractor")), acc) for ev in evaluations if (acc := extractor_accuracy(ev)) is not None})
    if accuracies:
        notes.append("Extractor test accuracy: " + "; ".join(f"<code>{e(i)}</code> {acc:.2%}" for i, acc in accuracies) + ".")
    settings = sorted({(len(ev.get("seeds") or []), ev.get("n")) for ev in evaluations if "scores" in ev}, key=str)
    if settings:
        notes.append("Each sample-quality score is the mean over the evaluator's sampling seeds: "
                     + "; ".join(f"{n} samples x {k} seeds" for k, n in settings) + ".")
    notes.append("NLL is the tightest recorded upper bound on the test negative log-likelihood (hover a cell for the bound); "
                 "training time is wall-clock (parallel runs share the cores), CPU time is the process's. "
                 f"Best value per column highlighted; {MISSING} means not recorded. With several training seeds: mean ± sample std over them.")
    return "".join(f'<p class="note">{n}</p>' for n in notes) + _floor_html(evaluations)


def _floor_html(evaluations: list[dict[str, Any]]) -> str:
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
        cells = "".join(f'<td class="num">{html.escape(format_number(_number(floor.get(k))))}</td>' for k in keys)
        lines.append(f"<tr><td><code>{html.escape(extractor)}</code></td><td class=\"num\">{n}</td>{cells}</tr>")
    return ('<p class="note">Real-vs-real floor: random train subsets scored against the same test reference at the same '
            "sample count, i.e. what perfect samples would score (FID is strongly biased at small sample counts).</p>"
            f'<table class="floor"><thead><tr><th>extractor</th><th>samples</th>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>')


def _group_sections(group: Group, table: Table) -> list[str]:
    e = html.escape
    parts = []
    if group.sweep is None:
        parts.append(f"<h2>{e(group.title.capitalize())}</h2>")
        if len(group.rows) > 1:
            parts.append(f'<p class="summary">{e(describe_runs(group.rows, table))}</p>')
        png = learning_curves_png([(r.label, r.runs) for r in group.rows], "learning curves")
        if png:
            parts.append(f'<div class="curves"><img src="{_data_uri(png)}" alt="learning curves"></div>')
        parts.append(_picture_strip(group.rows, "samples.png", lambda r: f"{r.label}: samples"))
        parts.append(_picture_strip(group.rows, "reconstructions.png", lambda r: f"{r.label}: test images (odd rows) and reconstructions"))
        return parts
    for key, rows in group.parameter_slices():
        parts.append(f"<h3>{e(group.title)}: {e(key)}</h3>")
        parts.append(f'<p class="summary">{e(describe_parameter(key, rows, table))}</p>')
        label = lambda r: f"{key}={_value_text(r.values.get(key))}"  # noqa: E731
        png = learning_curves_png([(label(r), r.runs) for r in rows], f"{group.title}: {key}")
        if png:
            parts.append(f'<div class="curves"><img src="{_data_uri(png)}" alt="learning curves for {e(key)}"></div>')
        parts.append(_picture_strip(rows, "samples.png", lambda r: f"{label(r)}: samples"))
        parts.append(_picture_strip(rows, "reconstructions.png", lambda r: f"{label(r)}: test images (odd rows) and reconstructions"))
    if not group.sweep.parameters:
        parts.append(_picture_strip(group.rows, "samples.png", lambda r: f"{r.label}: samples"))
    return parts


def _more_html(groups: list[Group]) -> str:
    e = html.escape
    blocks = []
    for group in groups:
        for row in group.rows:
            for run in row.runs:
                pictures = other_pictures(run.path)
                if pictures:
                    figures = "".join(_figure(p, str(p.relative_to(run.path))) for p in pictures)
                    blocks.append(f"<details open><summary>{e(row.label)} ({e(run.path.name)}): {len(pictures)} picture(s)</summary>"
                                  f'<div class="strip">{figures}</div></details>')
    if not blocks:
        return ""
    return "<h2>More pictures from the runs</h2>\n" + "\n".join(blocks)


def render_report(groups: list[Group]) -> tuple[str, str]:
    """(html, csv) for the groups."""
    rows = [row for g in groups for row in g.rows]
    table = build_table(rows)
    titles = ", ".join(g.title for g in groups)
    body = [f"<h1>genimg report: {html.escape(titles)}</h1>"]
    for group in groups:
        if group.sweep is not None:
            body.append(_definition_html(group))
    if not rows:
        body.append('<p class="note">No run has started yet.</p>')
    body.append("<h2>Metrics</h2>")
    body.append(_extractor_note(table, groups))
    body.append(f'<div class="wide">{table_html(table)}</div>')
    body.append('<p class="note">The same table is in report.csv beside this page.</p>')
    if len(groups) > 1:
        body.append(f'<p class="summary">Across all {len(rows)} rows: {html.escape(describe_runs(rows, table))}</p>')
    for group in groups:
        body.extend(p for p in _group_sections(group, table) if p)
    body.append(_more_html(groups))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>genimg report: {html.escape(titles)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return page, table_csv(table)


def build_report(paths: list[str | Path], out: str | Path | None = None) -> Path:
    """Write report.html (and report.csv beside it) for sweep and/or run directories.

    The default place is ``DIR/report.html`` for one directory and ``./report.html`` for several.
    """
    groups = collect(list(paths))
    if out is None:
        out = Path(paths[0]) / "report.html" if len(paths) == 1 else Path("report.html")
    out = Path(out)
    if out.suffix.lower() != ".html":
        out = out / "report.html"
    page, table = render_report(groups)
    write_text(out, page)
    write_text(out.with_suffix(".csv"), table)
    return out
