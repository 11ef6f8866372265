"""The evaluation every run of a sweep gets alike: its settings (checked, as `genimg evaluate`'s
are, by ``EvaluationOptions`` when the sweep is defined), the feature extractor prepared once
before training, and one run scored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from genimg.evaluate import evaluator
from genimg.evaluate.options import EvaluationOptions
from genimg.experiments.sweep.definition import Sweep


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
    """The ``EvaluationOptions`` fields that a sweep records (in sweep.json) and applies to every
    run, checked now; None leaves the default. ``sampler``/``steps`` and ``t_stride`` reach
    diffusion models only: at 28x28 their defaults (1000 ancestral steps, the bound's 1000 terms)
    cost about an hour of CPU per run; DDIM-50 and a stride of 10 take minutes."""
    settings: dict[str, Any] = {"features": features or "classifier", "seed": 0 if seed is None else seed}
    given = {"n": n, "seeds": seeds, "likelihood_k": likelihood_k, "t_stride": t_stride}
    settings.update({name: value for name, value in given.items() if value is not None})
    sampling = {key: value for key, value in (("sampler", sampler), ("steps", steps)) if value is not None}
    if sampling:
        settings["sample_options"] = sampling
    EvaluationOptions(**settings)  # raises on a bad setting, before anything trains
    return settings


def evaluate_variant(run_dir: str | Path, settings: dict[str, Any], quiet: bool = True) -> dict[str, Any]:
    """Score one run with the sweep's evaluation settings; writes RUN/eval/metrics.json."""
    return evaluator.evaluate_run(run_dir, EvaluationOptions(**settings), progress=not quiet)


def prepare_evaluation(sweep: Sweep, log: Callable[..., None] = print) -> None:
    """Build the feature extractor once, here, before any training: a missing extractor (no
    Inception weights) fails now, and the dataset classifier is trained and cached once instead
    of by every worker."""
    kind = (sweep.evaluation or {}).get("features", "classifier")
    data = sweep.base_config().data
    log(f"preparing the {kind} feature extractor for {data.dataset} (cached after the first time)")
    evaluator.extractor_for(data, kind)
