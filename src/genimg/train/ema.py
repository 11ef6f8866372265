"""An exponential moving average of a model's weights, used for sampling and evaluation.

Only parameters are averaged, and only those the model names (a GAN averages its generator).
Buffers are copied, never averaged: a noise schedule or a BatchNorm count is not a weight,
and averaging it is a known bug in peer implementations.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, names: list[str] | None = None) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
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

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        averaged, current, followed, buffers = self._tensors(model)
        torch._foreach_lerp_(averaged, [p.detach() for p in current], 1 - self.decay)
        for ema_p, p in followed:
            ema_p.copy_(p)
        for ema_b, b in buffers:
            ema_b.copy_(b)
