"""``recover``: degrade images, recover them with each method, score both; everything in memory."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from genimg.models.base import GenerativeModel
from genimg.tasks.recover.methods import METHODS, method_seed, resolve_methods
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.result import MethodResult, Recovery, score
from genimg.tasks.recover.task import TaskSpec, make_degradation


def recover(
    model: GenerativeModel | None,
    originals: torch.Tensor,
    spec: TaskSpec,
    methods: list[str] | None = None,
    options: SolverOptions | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Recovery:
    """Degrade ``originals`` as ``spec`` says, recover them with each method, score both.

    ``model`` may be None when only classical methods are asked for. Deterministic given
    ``seed``: the damage is drawn from it, and each method gets its own stream derived from it.
    """
    spec = spec.resolved()
    options = options or SolverOptions()
    names = resolve_methods(methods, spec.task, model)
    originals = originals.detach().float().cpu()
    damage = torch.Generator().manual_seed(seed)
    degradation = make_degradation(spec, tuple(originals.shape[1:]), originals.shape[0], damage)
    y = degradation.measure(originals, damage)
    observed = degradation.observed_image(y)
    result = Recovery(spec, originals, observed, degradation.mask, score(observed, originals))
    y_model = y.to(model.device) if model is not None else y  # generative methods measure on the model's device
    for name in names:
        method = METHODS[name]
        if progress:
            progress(name)
        generator = torch.Generator().manual_seed(method_seed(seed, name))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        measured = y_model if method.kind == "generative" else y
        images = method.solve(model, degradation, measured, options, generator).cpu()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        result.methods[name] = MethodResult(name, method.kind, images, score(images, originals), cpu, wall)
    return result
