"""What an evaluation of a run measures, and how: ``EvaluationOptions``, checked in one place.

``evaluate_run(run, EvaluationOptions(...))`` scores a run with them (keyword arguments of
``evaluate_run`` are these same fields). `genimg evaluate` builds them from its flags, a sweep
from its ``--eval-*`` flags (recorded in sweep.json, rebuilt for every run it scores), the demo
from its budget. Every field is checked when the options are made, before a model, the data or
a sample is touched; what needs the run itself (``n`` against its test split, a likelihood its
family lacks, judgements it has not collected) is checked by ``evaluate_run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genimg.config.run_config import PRECISIONS
from genimg.errors import UserError
from genimg.evaluate.features import available_extractors
from genimg.models.diffusion.config import SAMPLERS

ALL_METRICS = ("fid", "kid", "is", "pr", "likelihood", "human")
SAMPLE_METRICS = ("fid", "kid", "is", "pr")  # what needs samples and a feature extractor


@dataclass
class EvaluationOptions:
    """The settings of one evaluation; the defaults are `genimg evaluate`'s."""

    n: int | None = None  # samples per seed, against the first n test images; None: the whole test split
    features: str = "classifier"  # the feature extractor of the sample metrics (genimg.evaluate.features)
    metrics: tuple[str, ...] = ALL_METRICS  # any of ALL_METRICS (a list is taken too)
    seed: int = 0  # the first sampling seed; seed + 0..seeds-1 are used
    seeds: int = 5  # sampling seeds each score is averaged over
    floor_subsets: int = 10  # random train subsets that make the real-vs-real floor
    likelihood_k: int = 1000  # importance samples of the VAE's likelihood bound
    t_stride: int = 1  # diffusion likelihood: 1 = the bound (all T terms); S > 1 = an estimate from T/S terms
    # options of model.sample, the same for every seed (diffusion: sampler, steps); None: none
    sample_options: dict[str, Any] = field(default_factory=dict)
    precision: str | None = None  # sampling precision; None: the run's train.precision
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.metrics = tuple(self.metrics)
        self.sample_options = dict(self.sample_options or {})
        unknown = [m for m in self.metrics if m not in ALL_METRICS]
        if unknown:
            raise UserError(f"unknown metric '{unknown[0]}'; choose from {', '.join(ALL_METRICS)}")
        steps = self.sample_options.get("steps")
        for name, value, least in (
            ("n", self.n, 2),
            ("seeds", self.seeds, 1),
            ("floor_subsets", self.floor_subsets, 1),
            ("likelihood_k", self.likelihood_k, 1),
            ("t_stride", self.t_stride, 1),
            ("steps", steps, 1),
        ):
            if value is not None and value < least:
                raise UserError(f"the evaluation's {name} must be at least {least}, got {value}")
        sampler = self.sample_options.get("sampler")
        if sampler is not None and sampler not in SAMPLERS:
            raise UserError(f"the evaluation's sampler must be one of {', '.join(SAMPLERS)}, got '{sampler}'")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise UserError(
                f"the evaluation's precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'"
            )
        if self.measures_samples() and self.features not in available_extractors():
            raise UserError(
                f"unknown feature extractor '{self.features}'; choose one of {', '.join(available_extractors())}"
            )

    def measures_samples(self) -> bool:
        """Whether any metric needs samples and the feature extractor."""
        return any(m in SAMPLE_METRICS for m in self.metrics)
