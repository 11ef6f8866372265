"""What the report reads from one run directory: its summary, evaluation, learning history, and
the numbers its table shows, each with the feature extractor behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genimg.runs import RunDir

# eval/metrics.json (genimg.evaluate.evaluator) keeps each score under "scores" as
# {"mean", "std", "values"} over its sampling seeds, with the extractor's id beside them.
QUALITY_KEYS = ("fid", "kid", "is", "sharpness", "diversity", "precision", "recall", "class_entropy")
# score key (as genimg.evaluate.directions names it) -> the summary.json field it is read from
SUMMARY_KEYS = {"train_time": "train_time_s", "train_cpu": "train_cpu_s", "parameters": "parameters"}


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
    # The raw YAML, not RunDir.config(): a config this version no longer validates still names its family.
    return str((yaml.safe_load(run.config_file.read_text()) or {}).get("family", "?"))


def number(value: Any) -> float | None:
    """A finite float from a recorded value ({"mean": ...} and {"value": ...} included), else None."""
    if isinstance(value, dict):  # {"mean": ..., "std": ...} or {"value": ...}
        value = value.get("value", value.get("mean"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def likelihood_score(likelihood: dict[str, Any]) -> Score | None:
    """The tightest test NLL bound a run recorded (every bound is an upper bound on the NLL)."""
    bounds = {
        k[len("nll_") : -len("_nats")]: number(v)
        for k, v in likelihood.items()
        if k.startswith("nll_") and k.endswith("_nats") and number(v) is not None
    }
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
    for key, field in SUMMARY_KEYS.items():
        value = number(summary.get(field))
        if value is not None:
            scores[key] = Score(value)
    return scores


def sample_quality_scores(evaluation: dict[str, Any]) -> dict[str, Score]:
    """FID, KID, IS (with S and D), precision, recall and class entropy, each with its extractor id."""
    extractor = evaluation.get("extractor")
    scores: dict[str, Score] = {}
    for key in QUALITY_KEYS:
        value = number((evaluation.get("scores") or {}).get(key))
        if value is not None:
            scores[key] = Score(value, str(extractor) if extractor else None)
    return scores


def extractor_accuracy(evaluation: dict[str, Any]) -> float | None:
    return number((evaluation.get("extractor_identity") or {}).get("test_accuracy"))
