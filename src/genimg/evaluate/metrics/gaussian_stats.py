"""Mean and covariance of feature vectors, streamed in float64: the state of FID."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from genimg.errors import UserError
from genimg.evaluate.float64 import as_float64
from genimg.evaluate.metrics.inputs import as_matrix
from genimg.io import atomic_path


@dataclass(frozen=True)
class GaussianStats:
    """Mean and covariance (unbiased, N - 1) of N feature vectors, float64.

    ``extractor`` names the feature extractor, so cached reference statistics are not
    compared with features from another network by mistake.
    """

    mu: torch.Tensor
    sigma: torch.Tensor
    n: int
    extractor: str = ""

    def save(self, path: str | os.PathLike) -> None:
        """Write the statistics to an ``.npz`` file, atomically (cache the real side once)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                mu=self.mu.detach().cpu().numpy(),
                sigma=self.sigma.detach().cpu().numpy(),
                n=np.int64(self.n),
                extractor=np.str_(self.extractor),
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> GaussianStats:
        try:
            with np.load(path, allow_pickle=False) as data:
                mu, sigma, n, extractor = data["mu"], data["sigma"], int(data["n"]), str(data["extractor"])
        except FileNotFoundError:
            raise UserError(
                f"no feature statistics file at {path}; compute them with GaussianStats.save first"
            ) from None
        except Exception as err:  # np.load raises many types for a damaged file (BadZipFile, EOFError, ...)
            raise UserError(
                f"{path} is not a genimg feature statistics file ({err}); recompute it with GaussianStats.save"
            ) from None
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise UserError(f"{path} holds mu {mu.shape} and sigma {sigma.shape}, which do not fit; recompute the file")
        return cls(torch.from_numpy(mu).double(), torch.from_numpy(sigma).double(), n, extractor)


class MomentAccumulator:
    """Count, mean and centred sum of outer products of streamed vectors, float64.

    Batches are merged with Chan et al.'s pairwise update (batch-centred sums, then a
    correction for the shift of the mean) rather than by summing raw x x^T: the same
    O(b d^2) work, without the cancellation of E[x x^T] - mu mu^T when features have a
    large mean.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.centred_outer: torch.Tensor | None = None

    def add(self, features: torch.Tensor) -> None:
        features = as_float64(features)  # on the CPU if on MPS, which has no float64
        if self.mean is not None:
            features = features.to(self.mean.device)
        batch_n = features.shape[0]
        batch_mean = features.mean(dim=0)
        centred = features - batch_mean
        batch_outer = centred.T @ centred
        if self.mean is None:
            self.n, self.mean, self.centred_outer = batch_n, batch_mean, batch_outer
            return
        total = self.n + batch_n
        shift = batch_mean - self.mean
        self.centred_outer += batch_outer + torch.outer(shift, shift) * (self.n * batch_n / total)
        self.mean += shift * (batch_n / total)
        self.n = total

    def add_stats(self, stats: GaussianStats) -> None:
        """Merge precomputed statistics as if their samples had been added."""
        device = self.mean.device if self.mean is not None else stats.mu.device
        stats_outer = stats.sigma.to(device, torch.float64) * (stats.n - 1)
        stats_mean = stats.mu.to(device, torch.float64)
        if self.mean is None:
            self.n, self.mean, self.centred_outer = stats.n, stats_mean.clone(), stats_outer.clone()
            return
        total = self.n + stats.n
        shift = stats_mean - self.mean
        self.centred_outer += stats_outer + torch.outer(shift, shift) * (self.n * stats.n / total)
        self.mean += shift * (stats.n / total)
        self.n = total

    def stats(self, extractor: str = "") -> GaussianStats:
        return GaussianStats(self.mean.clone(), self.centred_outer / (self.n - 1), self.n, extractor)


def gaussian_stats(features: torch.Tensor, extractor: str = "") -> GaussianStats:
    """Mean and unbiased covariance (float64) of features (N, d), N >= 2."""
    features = as_matrix(features, "features")
    if features.shape[0] < 2:
        raise UserError(f"a covariance needs at least 2 samples, got {features.shape[0]}; pass more features")
    accumulator = MomentAccumulator()
    accumulator.add(features)
    return accumulator.stats(extractor)


# Block size of the triangular products below: 8 blocks at d = 2048.
