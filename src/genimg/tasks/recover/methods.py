"""The method table: every recovery method, what it solves, what it needs of a model, how it runs.

Each ``Method`` carries its solver, ``solve(model, degradation, y, options, generator)`` ->
images in [0, 1], so running a method is a lookup, never a branch on its name. Diffusion
methods draw posterior *samples*; ``options.posterior_samples = K`` averages K of them, an
estimate of the posterior mean (the minimum-MSE answer; one sample has about twice its error
on the pixels the measurement leaves open).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.tasks.recover.baselines import (
    baseline_bicubic,
    baseline_biharmonic,
    baseline_identity,
    baseline_nlm,
    baseline_richardson_lucy,
    baseline_tv,
)
from genimg.tasks.recover.degradations import Degradation
from genimg.tasks.recover.dps import solve_dps
from genimg.tasks.recover.latent_optimisation import latent_optimisation_refusal, solve_latent
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.repaint import solve_repaint
from genimg.tasks.recover.sdedit import solve_sdedit
from genimg.tasks.recover.task import TASKS

# (model or None, degradation, measurements y, options, generator) -> recovered images in [0, 1]
Solver = Callable[
    [GenerativeModel | None, Degradation, torch.Tensor, SolverOptions, torch.Generator | None], torch.Tensor
]
Baseline = Callable[[Degradation, torch.Tensor, SolverOptions], torch.Tensor]


def _classical(baseline: Baseline) -> Solver:
    """A baseline as a solver: it needs no model and draws nothing."""
    return lambda model, degradation, y, options, generator: baseline(degradation, y, options)


def _posterior_mean(draw: Solver) -> Solver:
    """A diffusion solver that averages ``options.posterior_samples`` draws."""

    def solve(
        model: GenerativeModel | None,
        degradation: Degradation,
        y: torch.Tensor,
        options: SolverOptions,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        return torch.stack(
            [draw(model, degradation, y, options, generator) for _ in range(options.posterior_samples)]
        ).mean(0)

    return solve


def _denoiser_refusal(name: str) -> Callable[[GenerativeModel], str | None]:
    return lambda model: model.refusal("denoiser", name)


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # "classical" or "generative"
    tasks: tuple[str, ...]  # tasks it solves
    description: str
    solve: Solver
    # For a generative method: model -> None if the model can run it, else why not (by capability).
    refusal: Callable[[GenerativeModel], str | None] | None = None


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("identity", "classical", TASKS, "the degraded image itself", _classical(baseline_identity)),
        Method("bicubic", "classical", ("superres",), "bicubic upsampling", _classical(baseline_bicubic)),
        Method("tv", "classical", ("denoise",), "total-variation denoising (Chambolle)", _classical(baseline_tv)),
        Method("nlm", "classical", ("denoise",), "non-local means with the known sigma", _classical(baseline_nlm)),
        Method("biharmonic", "classical", ("inpaint",), "biharmonic inpainting", _classical(baseline_biharmonic)),
        Method(
            "richardson-lucy",
            "classical",
            ("deblur",),
            "Richardson-Lucy deconvolution with the known kernel",
            _classical(baseline_richardson_lucy),
        ),
        Method(
            "latent",
            "generative",
            TASKS,
            "latent optimisation (Bora et al. 2017)",
            solve_latent,
            latent_optimisation_refusal,
        ),
        Method(
            "dps",
            "generative",
            TASKS,
            "diffusion posterior sampling (Chung et al. 2022)",
            _posterior_mean(solve_dps),
            _denoiser_refusal("dps"),
        ),
        Method(
            "repaint",
            "generative",
            ("inpaint",),
            "RePaint (Lugmayr et al. 2022)",
            _posterior_mean(solve_repaint),
            _denoiser_refusal("repaint"),
        ),
        Method(
            "sdedit",
            "generative",
            TASKS,
            "SDEdit (Meng et al. 2022)",
            _posterior_mean(solve_sdedit),
            _denoiser_refusal("sdedit"),
        ),
    ]
}


def method_refusal(method: Method, model: GenerativeModel | None) -> str | None:
    """None if ``model`` (None: no model) can run ``method``, else why not."""
    if method.refusal is None:
        return None
    if model is None:
        return f"{method.name} needs a trained model, and none was given"
    return method.refusal(model)


def available_methods(task: str, model: GenerativeModel | None) -> list[str]:
    return [m.name for m in METHODS.values() if task in m.tasks and method_refusal(m, model) is None]


def resolve_methods(names: list[str] | None, task: str, model: GenerativeModel | None) -> list[str]:
    """The methods to run: all that serve this task and model, or the named ones, checked."""
    valid = available_methods(task, model)
    if not names or names == ["all"]:
        return valid
    for name in names:
        if name not in METHODS:
            raise UserError(f"unknown method '{name}'; choose from {', '.join(valid)} (for --task {task})")
        method = METHODS[name]
        reason = method_refusal(method, model)
        if reason is not None:
            raise UserError(f"{reason}; for --task {task} choose from {', '.join(valid)}")
        if task not in method.tasks:
            raise UserError(f"method '{name}' does not solve --task {task}; choose from {', '.join(valid)}")
    return list(dict.fromkeys(names))


def method_seed(seed: int, name: str) -> int:
    """A seed per method, so adding or removing a method leaves the others' draws unchanged."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)
