"""An exponential moving average of a model's weights, used for sampling and evaluation.

Only parameters are averaged, and only those the model names (a GAN averages its generator).
Buffers are copied, never averaged: a noise schedule or a BatchNorm count is not a weight,
and averaging it is a known bug in peer implementations.

The decay is fixed (``decay``), or, with ``sigma_rel``, EDM2's power-function profile (Karras et
al. 2024, sec. 3.1): the n-th update uses decay (1 - 1/n)^(gamma + 1), so the average always
covers the same fraction of the run so far (its relative width is ``sigma_rel``). A fixed decay
suits no run length: 0.995 averages over the last ~200 steps whatever the run, and 0.9999 still
holds its initial weights after a short run. The power profile needs no run length in advance
(a budgeted run does not know its own), and the decay is a function of the update count alone,
which the caller passes, so a resumed run averages exactly as an uninterrupted one.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


def power_ema_gamma(sigma_rel: float) -> float:
    """EDM2's exponent gamma for a relative width ``sigma_rel`` (their eq. 3 solved for gamma:
    sigma_rel^2 = (gamma + 1) / ((gamma + 2)^2 (gamma + 3))); 0.05 -> 16.97, 0.10 -> 6.94."""
    t = sigma_rel**-2
    return float(np.roots([1, 7, 16 - t, 12 - t]).real.max())


class EMA:
    def __init__(
        self, model: nn.Module, decay: float | None, names: list[str] | None = None, sigma_rel: float | None = None
    ) -> None:
        if sigma_rel is not None:
            if not 0 < sigma_rel < 12**-0.5:  # gamma > 0 needs sigma_rel < sqrt(1/12)
                raise ValueError(f"EMA sigma_rel must lie in (0, 0.288), got {sigma_rel}")
        elif decay is None or not 0 < decay < 1:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.gamma = power_ema_gamma(sigma_rel) if sigma_rel is not None else None
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        self.names = list(names) if names is not None else trainable
        self._averaged = set(self.names)
        self._pairs: tuple[nn.Module, list, list, list, list] | None = None

    def _tensors(self, model: nn.Module) -> tuple[list, list, list, list]:
        """(EMA, model) tensors to average, to copy, and the buffers; built once per model, since
        rebuilding the name dictionaries every step cost more than the averaging itself."""
        if self._pairs is None or self._pairs[0] is not model:
            params = dict(model.named_parameters())
            ema_params = dict(self.module.named_parameters())
            followed = [n for n in params if n not in self._averaged]  # outside the average: follow the model
            self._pairs = (
                model,
                [ema_params[n] for n in self.names],
                [params[n] for n in self.names],
                [(ema_params[n], params[n]) for n in followed],
                list(zip(self.module.buffers(), model.buffers())),
            )
        return self._pairs[1:]

    def decay_at(self, updates: int) -> float:
        """The decay of the ``updates``-th update (1-based): fixed, or the power profile's."""
        if self.gamma is None:
            assert self.decay is not None  # __init__ requires a decay when there is no sigma_rel
            return self.decay
        return (1 - 1 / max(updates, 1)) ** (self.gamma + 1)

    @torch.no_grad()
    def update(self, model: nn.Module, updates: int | None = None) -> None:
        """Average ``model`` in; ``updates``: how many updates this one makes, itself included
        (what the power profile's decay depends on; unused with a fixed decay)."""
        if self.gamma is not None and updates is None:
            raise ValueError("a power-function EMA needs the update count: update(model, updates)")
        averaged, current, followed, buffers = self._tensors(model)
        torch._foreach_lerp_(averaged, [p.detach() for p in current], 1 - self.decay_at(updates or 0))
        for ema_p, p in followed:
            ema_p.copy_(p)
        for ema_b, b in buffers:
            ema_b.copy_(b)
