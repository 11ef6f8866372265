"""The report's inputs, read from run directories alone: what one run holds (its config,
summary, evaluation, learning history, and the numbers its table shows, each with the feature
extractor behind it), and the runs gathered into groups: each sweep directory becomes a group
with one row per variant (its runs, one per seed); single run directories given together share
one group.

A sweep is read through ``genimg.experiments.sweep.definition`` only, so the report loads
without the sweep's runner; a run's config is read as raw YAML, so a run written by an older
version (without a key this one has) still reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genimg.config.run_config import Budget, parse_budget
from genimg.errors import UserError
from genimg.evaluate.judgements import judge_score
from genimg.experiments.sweep.definition import Sweep, is_sweep_dir, recorded_base_values
from genimg.runs import RunDir

# eval/metrics.json (genimg.evaluate.evaluator) keeps each score under "scores" as
# {"mean", "std", "values"} over its sampling seeds, with the extractor's id beside them.
QUALITY_KEYS = ("fid", "kid", "is", "sharpness", "diversity", "precision", "recall", "class_entropy")
# score key (as genimg.evaluate.directions names it) -> (the summary.json field it is read from, scale)
SUMMARY_KEYS = {
    "train_time": ("train_time_s", 1.0),
    "train_cpu": ("train_cpu_s", 1 / 60),  # CPU-minutes: the budget a student plans in
    "parameters": ("parameters", 1.0),
}


@dataclass(frozen=True)
class Score:
    value: float
    extractor: str | None = None  # the feature extractor behind a sample-quality score
    note: str = ""  # e.g. which likelihood bound
    # The evaluator's std over its sampling seeds (one trained model, fresh samples): the only
    # spread a run with a single training seed has. None where nothing was resampled.
    spread: float | None = None


@dataclass
class RunRecord:
    path: Path
    family: str
    summary: dict[str, Any]
    evaluation: dict[str, Any]
    history: list[dict[str, Any]]
    scores: dict[str, Score]
    config: dict[str, Any] = field(default_factory=dict)  # config.yaml as written, unvalidated

    @property
    def finished(self) -> bool:
        return bool(self.summary.get("finished"))

    def train_setting(self, key: str) -> Any:
        """A ``train.`` key of the run's config; None where the run's config has no such key."""
        train = self.config.get("train")
        return train.get(key) if isinstance(train, dict) else None

    @property
    def budget_text(self) -> str | None:
        """The run's compute budget as configured ("5m", "wall:90s"); None where it trained for a
        number of epochs (and in runs written before budgets existed)."""
        value = self.summary.get("budget") or self.train_setting("budget")
        return value if isinstance(value, str) and value else None

    @property
    def budget(self) -> Budget | None:
        """The compute budget, parsed; None without one or where it does not parse."""
        if self.budget_text is None:
            return None
        try:
            return parse_budget(self.budget_text)
        except UserError:
            return None


def read_run(path: str | Path) -> RunRecord:
    run = RunDir.open(path)
    summary, evaluation = run.summary(), run.evaluation()
    # The raw YAML, not RunDir.config(): a config this version no longer validates still names its family.
    try:
        config = yaml.safe_load(run.config_file.read_text())
    except yaml.YAMLError:
        config = None
    config = config if isinstance(config, dict) else {}
    family = summary.get("family") or str(config.get("family", "?"))
    scores = run_scores(summary, evaluation)
    human = judge_score(run.path)  # the studio's real-vs-generated judgements, where people gave some
    if human and human["trials"]:
        scores["fooling_rate"] = Score(human["fooling_rate"])
    return RunRecord(run.path, family, summary, evaluation, run.metrics(), scores, config)


def number(value: Any) -> float | None:
    """A finite float from a recorded value ({"mean": ...} and {"value": ...} included), else None."""
    if isinstance(value, dict):  # {"mean": ..., "std": ...} or {"value": ...}
        value = value.get("value", value.get("mean"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def likelihood_scores(likelihood: dict[str, Any]) -> dict[str, Score]:
    """The tightest test NLL bound a run recorded (every bound is an upper bound on the NLL), in
    nats per image ("nll") and in bits per dimension ("nll_bpd"), with the bound's name.

    A strided estimate of a bound (its name holds "estimate", e.g. ``nll_vlb_estimate_nats``,
    recorded with its ``t_stride``) bounds nothing: it is kept apart as "nll_estimate" and
    "nll_estimate_bpd", with its stride in the note, and never stands in for a bound."""
    recorded: dict[str, float] = {}
    for key, value in likelihood.items():
        if key.startswith("nll_") and key.endswith("_nats") and (nats := number(value)) is not None:
            recorded[key[len("nll_") : -len("_nats")]] = nats
    bounds = {name: nats for name, nats in recorded.items() if "estimate" not in name}
    estimates = {name: nats for name, nats in recorded.items() if "estimate" in name}
    scores: dict[str, Score] = {}
    if bounds:
        name = min(bounds, key=bounds.__getitem__)
        nats = bounds[name]
        scores["nll"] = Score(nats, note=f"{name} bound")
        bpd = number(likelihood.get(f"nll_{name}_bpd"))
        if bpd is not None:
            scores["nll_bpd"] = Score(bpd, note=f"{name} bound, {nats:.2f} nats/image")
    if estimates:
        name = sorted(estimates)[0]
        nats = estimates[name]
        what = f"{name.replace('_', ' ')}, t-stride {likelihood.get('t_stride', '?')}"
        scores["nll_estimate"] = Score(nats, note=what)
        bpd = number(likelihood.get(f"nll_{name}_bpd"))
        if bpd is not None:
            scores["nll_estimate_bpd"] = Score(bpd, note=f"{what}, {nats:.2f} nats/image")
    return scores


def run_scores(summary: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Score]:
    """The numbers the table shows, from summary.json and eval/metrics.json."""
    evaluated = likelihood_scores(evaluation.get("likelihood") or {})
    # The evaluation's bound where it measured one, else the one training ended with (an
    # evaluation that only estimated the bound keeps its estimate beside that bound).
    scores = evaluated if "nll" in evaluated else {**likelihood_scores(summary.get("likelihood") or {}), **evaluated}
    scores.update(sample_quality_scores(evaluation))
    for key, (field_name, scale) in SUMMARY_KEYS.items():
        value = number(summary.get(field_name))
        if value is not None:
            scores[key] = Score(value * scale)
    return scores


def sample_quality_scores(evaluation: dict[str, Any]) -> dict[str, Score]:
    """FID, FID over the real-vs-real floor, KID, IS (with S and D), precision, recall and class
    entropy, each with its extractor id and its spread over the evaluator's sampling seeds."""
    extractor = str(evaluation["extractor"]) if evaluation.get("extractor") else None
    recorded = evaluation.get("scores") or {}
    scores: dict[str, Score] = {}
    for key in QUALITY_KEYS:
        value = number(recorded.get(key))
        if value is not None:
            scores[key] = Score(value, extractor, spread=_std(recorded.get(key)))
    floor = number((evaluation.get("floor") or {}).get("fid"))
    ratio = number(evaluation.get("fid_over_floor"))
    if ratio is None and "fid" in scores and floor:
        ratio = scores["fid"].value / floor
    if ratio is not None:
        # FID in units of what perfect samples score at the same sample count; its sampling
        # spread is FID's, in the same units.
        fid_spread = scores["fid"].spread if "fid" in scores else None
        spread = fid_spread / floor if fid_spread is not None and floor else None
        note = f"floor FID {floor:.4g}" if floor else ""
        scores["fid_over_floor"] = Score(ratio, extractor, note=note, spread=spread)
    return scores


def _std(value: Any) -> float | None:
    """The sampling-seed std the evaluator recorded beside a mean (None with one sampling seed)."""
    if not isinstance(value, dict) or len(value.get("values") or []) < 2:
        return None
    return number(value.get("std"))


def extractor_accuracy(evaluation: dict[str, Any]) -> float | None:
    return number((evaluation.get("extractor_identity") or {}).get("test_accuracy"))


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
    sweep: Sweep | None = None
    base_values: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # variants with no run directory yet

    def parameter_slices(self) -> list[tuple[str, list[Row]]]:
        """Per swept parameter, the rows where every other parameter has its base value, ordered
        by value (ascending when the values are numbers, else as listed)."""
        if self.sweep is None:
            return []
        out = []
        for key, values in self.sweep.parameters.items():
            rows = [r for r in self.rows if r.values and self._others_at_base(r, key)]
            order = sorted(values) if all_numbers(values) else list(values)
            rows.sort(key=lambda r: _index(order, r.values.get(key)))
            out.append((key, rows))
        return out

    def _others_at_base(self, row: Row, key: str) -> bool:
        """Whether every swept parameter but ``key`` has its base value in ``row``."""
        return all(row.values.get(k) == v for k, v in self.base_values.items() if k != key)


def all_numbers(values: Iterable[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _index(order: list[Any], value: Any) -> int:
    return order.index(value) if value in order else len(order)


def collect(paths: list[str | Path]) -> list[Group]:
    """Read every input: a sweep directory becomes a group; single run directories share one."""
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


def _sweep_group(sweep: Sweep) -> Group:
    recorded = recorded_base_values(sweep.path)
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
