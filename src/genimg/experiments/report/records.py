"""What the report reads from one run directory: its summary, evaluation, learning history, and
the numbers its table shows, each with the feature extractor behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genimg.evaluate.judgements import judge_score
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

    @property
    def finished(self) -> bool:
        return bool(self.summary.get("finished"))


def read_run(path: str | Path) -> RunRecord:
    run = RunDir.open(path)
    summary, evaluation = run.summary(), run.evaluation()
    family = summary.get("family") or _config_family(run)
    scores = run_scores(summary, evaluation)
    human = judge_score(run.path)  # the studio's real-vs-generated judgements, where people gave some
    if human and human["trials"]:
        scores["fooling_rate"] = Score(human["fooling_rate"])
    return RunRecord(run.path, family, summary, evaluation, run.metrics(), scores)


def _config_family(run: RunDir) -> str:
    # The raw YAML, not RunDir.config(): a config this version no longer validates still names its family.
    return str((yaml.safe_load(run.config_file.read_text()) or {}).get("family", "?"))


def number(value: Any) -> float | None:
    """A finite float from a recorded value ({"mean": ...} and {"value": ...} included), else None."""
    if isinstance(value, dict):  # {"mean": ..., "std": ...} or {"value": ...}
        value = value.get("value", value.get("mean"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def likelihood_scores(likelihood: dict[str, Any]) -> dict[str, Score]:
    """The tightest test NLL bound a run recorded (every bound is an upper bound on the NLL), in
    nats per image ("nll") and in bits per dimension ("nll_bpd"), with the bound's name."""
    bounds = {
        k[len("nll_") : -len("_nats")]: number(v)
        for k, v in likelihood.items()
        if k.startswith("nll_") and k.endswith("_nats") and number(v) is not None
    }
    if not bounds:
        return {}
    name = min(bounds, key=bounds.get)
    nats = bounds[name]
    scores = {"nll": Score(nats, note=f"{name} bound")}
    bpd = number(likelihood.get(f"nll_{name}_bpd"))
    if bpd is not None:
        scores["nll_bpd"] = Score(bpd, note=f"{name} bound, {nats:.2f} nats/image")
    return scores


def run_scores(summary: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Score]:
    """The numbers the table shows, from summary.json and eval/metrics.json."""
    scores = likelihood_scores(evaluation.get("likelihood") or {}) or likelihood_scores(summary.get("likelihood") or {})
    scores.update(sample_quality_scores(evaluation))
    for key, (field, scale) in SUMMARY_KEYS.items():
        value = number(summary.get(field))
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
