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

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        ema_params = dict(self.module.named_parameters())
        averaged = [ema_params[n] for n in self.names]
        current = [params[n].detach() for n in self.names]
        torch._foreach_lerp_(averaged, current, 1 - self.decay)
        for n, p in params.items():  # parameters outside the average follow the model
            if n not in self._averaged:
                ema_params[n].copy_(p)
        for ema_b, b in zip(self.module.buffers(), model.buffers()):
            ema_b.copy_(b)
