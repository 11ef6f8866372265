"""Input checks every metric shares: finite (N, d) matrices, class probabilities, one feature size per side."""

from __future__ import annotations

import numpy as np
import torch

from genimg.errors import UserError
from genimg.evaluate.float64 import as_float64


def as_matrix(values, name: str) -> torch.Tensor:
    """A finite float (N, d) tensor, detached; numpy arrays are accepted too."""
    if isinstance(values, np.ndarray):
        values = torch.from_numpy(values)
    if not isinstance(values, torch.Tensor):
        raise UserError(
            f"{name} must be a tensor of shape (N, d), got {type(values).__name__}; convert with torch.as_tensor"
        )
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise UserError(
            f"{name} must have shape (N, d) with N, d >= 1, got {tuple(values.shape)}; "
            "flatten feature maps with x.flatten(1) and pass at least one sample"
        )
    if not values.is_floating_point():
        values = values.to(torch.float32)
    values = values.detach()
    if not bool(torch.isfinite(values).all()):
        raise UserError(f"{name} contains NaN or infinite values; check the feature extractor's output")
    return values


def check_probabilities(probs: torch.Tensor, name: str) -> torch.Tensor:
    probs = as_float64(as_matrix(probs, name))
    if probs.shape[1] < 2:
        raise UserError(
            f"{name} has {probs.shape[1]} class; the Inception Score needs probabilities over K >= 2 classes"
        )
    row_sums = probs.sum(dim=1)
    if bool((probs < 0).any()) or not bool(torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-3)):
        raise UserError(
            f"{name} rows must be class probabilities (non-negative, summing to 1); "
            "if these are logits, pass logits.softmax(dim=1)"
        )
    return probs


class SideDimension:
    """Remembers the feature dimension of the first batch and rejects batches that differ."""

    def __init__(self) -> None:
        self.dim: int | None = None

    def check(self, features: torch.Tensor, name: str) -> None:
        if self.dim is None:
            self.dim = features.shape[1]
        elif features.shape[1] != self.dim:
            raise UserError(
                f"{name} has {features.shape[1]} features but earlier batches had {self.dim}; "
                "use one feature extractor for every batch of a metric"
            )

    def reset(self) -> None:
        self.dim = None
