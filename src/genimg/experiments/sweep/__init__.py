"""Sweeps: train many variants of one config, evaluate them alike, and report them side by side.

A sweep is a base config (the family's defaults plus ``--set`` overrides) and a few swept
parameters, each with a list of values. Every variant is one run directory under the sweep
directory; ``sweep.json`` beside them records the definition and the variants:

    SWEEP/
      sweep.json          family, base overrides, parameters and values, mode, seeds,
                          evaluation settings, variants (name, parameter values, seed, run dir)
      base/  latent_dim=2/  ...   one run directory per variant (see genimg.runs.directory)
      logs/               each variant's training and evaluation output
      report.html  report.csv     written at the end (genimg report SWEEP rebuilds them)

Two modes:

- ``one-at-a-time`` (the default): a base run, then each parameter varied alone around it.
  **The base value of a parameter is its value in the base config when that value is among
  the listed ones, otherwise the first listed value**, so the base run is always one of the
  variants and is shared by every parameter: 3 parameters with 3 values each make
  1 + 3 x 2 = 7 runs.
- ``grid``: the full factorial (3 x 3 x 3 = 27 runs).

``seeds=K`` repeats every variant with train.seed = base seed + 0..K-1; the report shows
mean ± std over the seeds.

Every variant's config is built and checked before anything trains, so a bad key or value
fails at once. Runs go to worker processes (``spawn``) that split the CPU cores between them
(and, on a machine with several GPUs, take one GPU each);
each run is trained, then evaluated with the same settings (sample count, feature extractor,
seed), so the numbers are comparable. The evaluation measures the likelihood too, so runs skip
their own end-of-training estimate (train.likelihood_at_end=false unless set). An interrupted
sweep continues with ``resume_sweep``: finished runs are skipped, half-trained ones resume from
their last checkpoint exactly, the rest start.

The definition and a worker's set-up import no torch (the report reads sweeps through the
definition; a spawned worker sets its thread count before torch loads); the runner, a worker's
task and the evaluation train, score and write the report. Each module's docstring says what it holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genimg.experiments.sweep.definition import (
    Sweep,
    Variant,
    define_sweep,
    is_sweep_dir,
    parse_parameters,
    plan_variants,
    split_values,
)
from genimg.experiments.sweep.worker_setup import threads_per_worker

if TYPE_CHECKING:
    from genimg.experiments.sweep.evaluation import evaluation_settings
    from genimg.experiments.sweep.runner import SweepOutcome, resume_sweep, run_sweep

__all__ = [
    "Sweep",
    "SweepOutcome",
    "Variant",
    "define_sweep",
    "evaluation_settings",
    "is_sweep_dir",
    "parse_parameters",
    "plan_variants",
    "resume_sweep",
    "run_sweep",
    "split_values",
    "threads_per_worker",
]


def __getattr__(name: str) -> Any:
    # The runner's names load on first use. The runner imports torch, the trainer, the evaluator
    # and the report; the definition above must load without them: the report reads sweeps
    # through it (the report is imported by the runner), and a spawned worker loads this package
    # before it sets its thread count, which must happen before torch loads.
    if name in ("run_sweep", "resume_sweep", "SweepOutcome"):
        from genimg.experiments.sweep import runner

        return getattr(runner, name)
    if name == "evaluation_settings":
        from genimg.experiments.sweep import evaluation

        return evaluation.evaluation_settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
