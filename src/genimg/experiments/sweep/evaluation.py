"""The evaluation every run of a sweep gets alike: its settings (checked when the sweep is
defined), the feature extractor prepared once before training, and one run scored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from genimg.errors import UserError
from genimg.evaluate import evaluator
from genimg.evaluate.features import available_extractors
from genimg.experiments.sweep.definition import Sweep


def evaluation_settings(
    n: int | None = None,
    features: str | None = None,
    seed: int | None = None,
    seeds: int | None = None,
    likelihood_k: int | None = None,
) -> dict[str, Any]:
    """The evaluator's keyword arguments (genimg.evaluate.evaluator.evaluate_run) that a sweep
    records and applies to every run; None leaves the evaluator's default."""
    settings: dict[str, Any] = {"features": features or "classifier", "seed": 0 if seed is None else seed}
    if settings["features"] not in available_extractors():
        raise UserError(f"unknown feature extractor '{features}'; choose one of {', '.join(available_extractors())}")
    for name, value, least in (("n", n, 2), ("seeds", seeds, 1), ("likelihood_k", likelihood_k, 1)):
        if value is not None:
            if value < least:
                raise UserError(f"the evaluation's {name} must be at least {least}, got {value}")
            settings[name] = value
    return settings


def evaluate_variant(run_dir: str | Path, settings: dict[str, Any], quiet: bool = True) -> dict[str, Any]:
    """Score one run with the sweep's evaluation settings; writes RUN/eval/metrics.json."""
    return evaluator.evaluate_run(run_dir, **settings, progress=not quiet)


def prepare_evaluation(sweep: Sweep, log: Callable[..., None] = print) -> None:
    """Build the feature extractor once, here, before any training: a missing extractor (no
    Inception weights) fails now, and the dataset classifier is trained and cached once instead
    of by every worker."""
    kind = sweep.evaluation.get("features", "classifier")
    data = sweep.base_config().data
    log(f"preparing the {kind} feature extractor for {data.dataset} (cached after the first time)")
    evaluator.extractor_for(data, kind)
