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

SAMPLERS = ("ddpm", "ddim")  # the diffusion samplers `genimg evaluate --sampler` takes


def evaluation_settings(
    n: int | None = None,
    features: str | None = None,
    seed: int | None = None,
    seeds: int | None = None,
    likelihood_k: int | None = None,
    sampler: str | None = None,
    steps: int | None = None,
    t_stride: int | None = None,
) -> dict[str, Any]:
    """The evaluator's keyword arguments (genimg.evaluate.evaluator.evaluate_run) that a sweep
    records and applies to every run; None leaves the evaluator's default. ``sampler``/``steps``
    and ``t_stride`` reach diffusion models only: at 28x28 their defaults (1000 ancestral steps,
    the bound's 1000 terms) cost about an hour of CPU per run; DDIM-50 and a stride of 10 take minutes."""
    settings: dict[str, Any] = {"features": features or "classifier", "seed": 0 if seed is None else seed}
    if settings["features"] not in available_extractors():
        raise UserError(f"unknown feature extractor '{features}'; choose one of {', '.join(available_extractors())}")
    for name, value, least in (
        ("n", n, 2),
        ("seeds", seeds, 1),
        ("likelihood_k", likelihood_k, 1),
        ("t_stride", t_stride, 1),
    ):
        if value is not None:
            if value < least:
                raise UserError(f"the evaluation's {name} must be at least {least}, got {value}")
            settings[name] = value
    if sampler is not None and sampler not in SAMPLERS:
        raise UserError(f"the evaluation's sampler must be one of {', '.join(SAMPLERS)}, got '{sampler}'")
    if steps is not None and steps < 1:
        raise UserError(f"the evaluation's steps must be at least 1, got {steps}")
    sampling = {key: value for key, value in (("sampler", sampler), ("steps", steps)) if value is not None}
    if sampling:
        settings["sample_options"] = sampling
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
