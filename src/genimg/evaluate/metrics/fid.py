"""Fréchet Inception Distance (Heusel et al. 2017), all of it: the Fréchet distance between
Gaussians fitted to real and generated features, streamed.

Read top to bottom: the input checks every feature metric shares (``as_matrix``,
``SideDimension``; KID and precision/recall import them from here), the mean and covariance of
features streamed in float64 (``GaussianStats``, ``MomentAccumulator``: the state of FID, and
what a cached real side is saved as), the Fréchet distance between two Gaussians through
symmetric eigenvalues only (``frechet_distance``), and the metric (``FID``, ``fid``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from genimg.errors import UserError
from genimg.io import atomic_path
from genimg.models.precision import as_float64


# Input checks every feature metric shares: finite (N, d) matrices, one feature size per side.
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


# Mean and covariance of feature vectors, streamed in float64: the state of FID.
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
        assert self.centred_outer is not None  # set together with the mean
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
        assert self.centred_outer is not None  # set together with the mean
        total = self.n + stats.n
        shift = stats_mean - self.mean
        self.centred_outer += stats_outer + torch.outer(shift, shift) * (self.n * stats.n / total)
        self.mean += shift * (stats.n / total)
        self.n = total

    def stats(self, extractor: str = "") -> GaussianStats:
        assert self.mean is not None and self.centred_outer is not None, "no features were added"
        return GaussianStats(self.mean.clone(), self.centred_outer / (self.n - 1), self.n, extractor)


def gaussian_stats(features: torch.Tensor, extractor: str = "") -> GaussianStats:
    """Mean and unbiased covariance (float64) of features (N, d), N >= 2."""
    features = as_matrix(features, "features")
    if features.shape[0] < 2:
        raise UserError(f"a covariance needs at least 2 samples, got {features.shape[0]}; pass more features")
    accumulator = MomentAccumulator()
    accumulator.add(features)
    return accumulator.stats(extractor)


# The Fréchet distance between two Gaussians, through symmetric eigenvalues only.
# Block size of the triangular products below: 8 blocks at d = 2048.
_TRIANGULAR_BLOCK = 256


def _congruence_lower_triangle(sigma: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """The lower triangle of L^T sigma L for lower-triangular L (upper triangle left at 0).

    Computed blockwise, skipping the blocks that are zero because L is triangular and the
    ones ``eigvalsh`` never reads (it reads only the lower triangle): about a third of the
    work of the two dense products.
    """
    n = lower.shape[0]
    # sigma_l[k:, block] = (sigma L)[k:, block] for k = the block's first column: the rows
    # below are all the second product reads (the rest stays unset), and L[m, c] = 0 for m < c.
    sigma_l = torch.empty_like(sigma)
    for start in range(0, n, _TRIANGULAR_BLOCK):
        stop = min(start + _TRIANGULAR_BLOCK, n)
        sigma_l[start:, start:stop] = sigma[start:, start:] @ lower[start:, start:stop]
    product = torch.zeros_like(sigma)
    for start in range(0, n, _TRIANGULAR_BLOCK):
        stop = min(start + _TRIANGULAR_BLOCK, n)
        product[start:stop, :stop] = lower[start:, start:stop].T @ sigma_l[start:, :stop]
    return product


def _trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr sqrt(sigma1 sigma2) for symmetric PSD sigma1, sigma2, via symmetric eigenvalues only.

    sigma1 sigma2 has the eigenvalues of the symmetric PSD matrix A^T sigma2 A for any
    factor sigma1 = A A^T (similar matrices), and tr sqrt is the sum of their square roots.
    The factor is a Cholesky factor when one covariance is numerically positive definite
    (the usual case, N > d: ~3x faster than a general ``eigvals`` of sigma1 sigma2 at
    d = 2048), else sqrt(sigma1) from ``eigh``, which also works for singular covariances
    (N <= d). Eigenvalues that rounding pushed slightly below zero are clamped to 0.

    Only the lower triangle of the factored matrix is read (Cholesky and ``eigh`` read no
    more); the other is used whole, as (sigma + sigma^T) / 2.
    """
    for first, second in ((sigma1, sigma2), (sigma2, sigma1)):
        lower, info = torch.linalg.cholesky_ex(first)
        if int(info) == 0:
            product = _congruence_lower_triangle(_symmetrised(second), lower)
            return torch.linalg.eigvalsh(product, UPLO="L").clamp(min=0).sqrt().sum()
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma1)
    sqrt_sigma1 = (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T
    product = sqrt_sigma1 @ _symmetrised(sigma2) @ sqrt_sigma1
    return torch.linalg.eigvalsh(_symmetrised(product)).clamp(min=0).sqrt().sum()


def _symmetrised(matrix: torch.Tensor) -> torch.Tensor:
    return torch.add(matrix, matrix.T).mul_(0.5)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

        d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2)

    tr sqrt(sigma1 sigma2) comes from the eigenvalues of a symmetric PSD matrix similar to
    sigma1 sigma2 (see ``_trace_sqrt_product``), never from scipy's general ``sqrtm``: no
    complex values, no NaN for singular covariances (fewer samples than dimensions), and
    a few times faster. The result is clamped at 0, its true lower bound, so rounding
    cannot report a negative distance for identical statistics.
    """
    tensors = []
    for name, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        value = as_float64(torch.as_tensor(value).detach())
        if not math.isfinite(float(value.sum())):  # one pass; NaN and inf both propagate to the sum
            raise UserError(f"{name} contains NaN or infinite values; recompute the feature statistics")
        tensors.append(value)
    mu1, sigma1, mu2, sigma2 = tensors
    dim = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.ndim != 1 or mu2.shape != mu1.shape or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise UserError(
            f"Fréchet distance needs mu (d,) and sigma (d, d) on both sides, got mu1 {tuple(mu1.shape)}, "
            f"sigma1 {tuple(sigma1.shape)}, mu2 {tuple(mu2.shape)}, sigma2 {tuple(sigma2.shape)}; "
            "use statistics from one feature extractor"
        )
    sigma2 = sigma2.to(sigma1.device)
    mu2 = mu2.to(mu1.device)
    mean_term = (mu1 - mu2).square().sum()
    distance = mean_term + torch.trace(sigma1) + torch.trace(sigma2) - 2 * _trace_sqrt_product(sigma1, sigma2)
    return max(float(distance), 0.0)


# The metric: a Gaussian fitted to each side, streamed, and the distance between them.
class FID:
    """Fréchet distance between Gaussians fitted to real and generated features, streamed.

    State: per side, count, mean and centred outer-product sum in float64 (O(d^2)).
    The real side can be cached: ``real_stats()`` gives its ``GaussianStats`` (save them),
    ``load_real_stats(stats_or_path)`` puts them back, and ``reset(keep_real=True)`` starts a
    new generated set against the same real one.
    """

    higher_is_better: ClassVar[bool] = False
    score_keys: ClassVar[tuple[str, ...]] = ("fid",)  # what it adds to an evaluation

    def __init__(self, extractor: str = "") -> None:
        self.extractor = extractor
        self._dimension = SideDimension()
        self.reset()

    def reset(self, keep_real: bool = False) -> None:
        real = getattr(self, "_real", None) if keep_real else None
        self._real = real if real is not None else MomentAccumulator()
        self._fake = MomentAccumulator()
        if self._real.mean is None:
            self._dimension.reset()

    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        for side, features, accumulator in (("real", real, self._real), ("fake", fake, self._fake)):
            if features is not None:
                features = as_matrix(features, side)
                self._dimension.check(features, side)
                accumulator.add(features)

    def load_real_stats(self, stats: GaussianStats | str | os.PathLike) -> None:
        """Use cached real statistics (a ``GaussianStats`` or a file written by ``GaussianStats.save``)."""
        if not isinstance(stats, GaussianStats):
            stats = GaussianStats.load(stats)
        if self.extractor and stats.extractor and stats.extractor != self.extractor:
            raise UserError(
                f"the cached statistics come from extractor {stats.extractor!r} but this FID uses "
                f"{self.extractor!r}; recompute the real statistics with the same extractor"
            )
        self._dimension.check(stats.mu[None, :], "real statistics")
        self._real = MomentAccumulator()
        self._real.add_stats(stats)

    def real_stats(self) -> GaussianStats:
        return self._side_stats("real", self._real)

    def fake_stats(self) -> GaussianStats:
        return self._side_stats("fake", self._fake)

    def _side_stats(self, side: str, accumulator: MomentAccumulator) -> GaussianStats:
        if accumulator.n < 2:
            raise UserError(
                f"FID needs at least 2 {side} samples, got {accumulator.n}; call update({side}=features) with more"
            )
        return accumulator.stats(self.extractor)

    def compute(self) -> float:
        real, fake = self.real_stats(), self.fake_stats()
        return frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)


def fid(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """FID between two feature sets (N, d) and (M, d); see ``FID``."""
    metric = FID()
    metric.update(real=real_features, fake=fake_features)
    return metric.compute()
