"""Sample-quality metrics on features and class probabilities: IS, FID, KID, precision/recall.

Every metric is a streaming object with ``update(real=..., fake=...)``, ``compute()`` and
``reset()`` (batches go in, the numbers come out at the end) and a plain function on whole
tensors that runs the same code. The inputs are what a feature extractor produced: class
probabilities (N, K) for the Inception Score, feature vectors (N, d) for the others.
Which extractor made them (the dataset's own classifier or Inception-v3) is the caller's
business and should be reported beside the scores.

Memory, by metric:

- ``InceptionScore``: O(splits x K): per split, the sum of probabilities and of p log p.
- ``FID``: O(d^2): per side, the count, mean and centred sum of outer products in float64
  (2048-d features: 32 MiB a side), however many samples are seen.
- ``KID`` and ``PrecisionRecall`` need the samples themselves, as the definitions work on
  pairs of samples: they keep the features in float32, 4 N d bytes a side (10,000 2048-d
  features: 78 MiB a side). ``max_samples`` bounds this: beyond it a uniform random subset
  of that size is kept (reservoir sampling, seeded), and the result is computed on it.
  Their pairwise computations run in blocks so that no N x N matrix is ever built.

Agreement with the references is tested on the same inputs: FID and KID against
torchmetrics, the Fréchet distance against pytorch-fid's scipy ``sqrtm`` formula, IS
against exp(E KL) computed independently, precision/recall against a brute-force
implementation of Kynkäänniemi et al. (2019).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from genimg.errors import UserError
from genimg.io import atomic_path

# ---------------------------------------------------------------------------- input checks


def _as_matrix(values, name: str) -> torch.Tensor:
    """A finite float (N, d) tensor, detached; numpy arrays are accepted too."""
    if isinstance(values, np.ndarray):
        values = torch.from_numpy(values)
    if not isinstance(values, torch.Tensor):
        raise UserError(f"{name} must be a tensor of shape (N, d), got {type(values).__name__}; convert with torch.as_tensor")
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


def _check_probabilities(probs: torch.Tensor, name: str) -> torch.Tensor:
    probs = _as_matrix(probs, name).to(torch.float64)
    if probs.shape[1] < 2:
        raise UserError(f"{name} has {probs.shape[1]} class; the Inception Score needs probabilities over K >= 2 classes")
    row_sums = probs.sum(dim=1)
    if bool((probs < 0).any()) or not bool(torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-3)):
        raise UserError(
            f"{name} rows must be class probabilities (non-negative, summing to 1); "
            "if these are logits, pass logits.softmax(dim=1)"
        )
    return probs


class _SideDimension:
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


# ---------------------------------------------------------------------------- Inception Score


@dataclass(frozen=True)
class InceptionScoreResult:
    """IS = S x D per split, with S = sharpness and D = diversity as in the lecture.

    ``mean``/``std`` are over the per-split IS values (std with ddof=0, as the original
    code and torch-fidelity). ``sharpness`` and ``diversity`` are the means of the
    per-split factors; the per-split lists satisfy IS = S x D exactly, the means only
    approximately (the mean of a product is not the product of means).
    """

    mean: float
    std: float
    sharpness: float
    diversity: float
    per_split: list[float]
    sharpness_per_split: list[float]
    diversity_per_split: list[float]
    num_samples: int
    splits: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class _SplitAssigner:
    """Deals streamed samples into splits: each run of ``splits`` consecutive samples goes
    to the splits in a fresh random order (seeded).

    Split sizes differ by at most one, and no ordering of the input can line up with the
    splits: deterministic dealing (sample i to split i mod s) would put every sample of a
    class-cyclic batch (labels 0, 1, ..., 9, 0, 1, ...) into one split per class, and
    contiguous chunks would do the same to class-sorted batches; both make IS ~ 1. The
    assignment depends only on the sample's position in the stream, not on batch sizes.
    """

    def __init__(self, splits: int, seed: int) -> None:
        self.splits = splits
        self.generator = torch.Generator().manual_seed(seed)
        self.seen = 0
        self._current_block = -1
        self._current_order = torch.arange(splits)

    def assign(self, count: int) -> torch.Tensor:
        positions = self.seen + torch.arange(count)
        first_block, last_block = self.seen // self.splits, (self.seen + count - 1) // self.splits
        orders = []
        for block in range(first_block, last_block + 1):
            if block != self._current_block:
                self._current_block = block
                self._current_order = torch.randperm(self.splits, generator=self.generator)
            orders.append(self._current_order)
        self.seen += count
        return torch.stack(orders)[positions // self.splits - first_block, positions % self.splits]


def split_assignment(num_samples: int, splits: int = 10, seed: int = 0) -> torch.Tensor:
    """The split (0 .. splits-1) of each of the first ``num_samples`` samples, as ``InceptionScore`` deals them."""
    return _SplitAssigner(splits, seed).assign(num_samples)


class InceptionScore:
    """Inception Score from class probabilities c(y|x), streamed, reported as sharpness x diversity.

    Per split:
      S  = exp(E_x[sum_y c(y|x) log c(y|x)])    (sharpness: exp of minus the mean entropy)
      D  = exp(-E_x[sum_y c(y|x) log c(y)])     (diversity: exp of the entropy of the marginal)
      IS = S x D = exp(E_x KL(c(y|x) || c(y)))
    where c(y) is the mean of c(y|x) over the split.

    Splits (default 10, as in the original code and torch-fidelity) are random, balanced
    and seeded (see ``split_assignment``), like torchmetrics' shuffle-then-chunk but
    without keeping the samples: the state is, per split, the count, the sum of c(y|x) and
    the sum of sum_y c log c, O(splits x K) whatever N.

    Generated samples go in as ``fake=``. ``real=`` is accepted too and scored separately
    (the IS of real data is the reference ceiling): ``compute(side="real")``.
    """

    def __init__(self, splits: int = 10, seed: int = 0) -> None:
        if not (isinstance(splits, int) and splits >= 1):
            raise UserError(f"splits must be a positive integer, got {splits!r}; the usual value is 10")
        self.splits = splits
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self._state: dict[str, dict] = {}

    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        for side, probs in (("real", real), ("fake", fake)):
            if probs is not None:
                self._add(side, _check_probabilities(probs, side))

    def _add(self, side: str, probs: torch.Tensor) -> None:
        num_classes = probs.shape[1]
        state = self._state.setdefault(
            side,
            {
                "assigner": _SplitAssigner(self.splits, self.seed),
                "count": torch.zeros(self.splits, dtype=torch.int64),
                "sum_probs": torch.zeros(self.splits, num_classes, dtype=torch.float64),
                "sum_neg_entropy": torch.zeros(self.splits, dtype=torch.float64),
            },
        )
        if state["sum_probs"].shape[1] != num_classes:
            raise UserError(
                f"{side} probabilities have {num_classes} classes but earlier batches had "
                f"{state['sum_probs'].shape[1]}; use one classifier for every batch"
            )
        split_of_sample = state["assigner"].assign(probs.shape[0])
        probs = probs.cpu()
        # xlogy gives 0 log 0 = 0: a class with zero probability contributes nothing.
        neg_entropy = torch.special.xlogy(probs, probs).sum(dim=1)
        state["count"] += torch.bincount(split_of_sample, minlength=self.splits)
        state["sum_probs"].index_add_(0, split_of_sample, probs)
        state["sum_neg_entropy"].index_add_(0, split_of_sample, neg_entropy)

    def compute(self, side: Literal["fake", "real"] = "fake") -> InceptionScoreResult:
        state = self._state.get(side)
        if state is None:
            raise UserError(f"InceptionScore has no {side} probabilities; call update({side}=probs) first")
        seen = state["assigner"].seen
        if seen < self.splits:
            raise UserError(f"InceptionScore got {seen} {side} samples for {self.splits} splits; pass more samples or fewer splits")
        count = state["count"].to(torch.float64)
        log_sharpness = state["sum_neg_entropy"] / count
        marginal = state["sum_probs"] / count[:, None]
        log_diversity = -torch.special.xlogy(marginal, marginal).sum(dim=1)
        per_split = torch.exp(log_sharpness + log_diversity)
        sharpness, diversity = torch.exp(log_sharpness), torch.exp(log_diversity)
        return InceptionScoreResult(
            mean=float(per_split.mean()),
            std=float(per_split.std(correction=0)),
            sharpness=float(sharpness.mean()),
            diversity=float(diversity.mean()),
            per_split=per_split.tolist(),
            sharpness_per_split=sharpness.tolist(),
            diversity_per_split=diversity.tolist(),
            num_samples=int(seen),
            splits=self.splits,
        )


def inception_score(probs: torch.Tensor, splits: int = 10, seed: int = 0) -> InceptionScoreResult:
    """Inception Score of class probabilities (N, K); see ``InceptionScore`` for the definition."""
    metric = InceptionScore(splits=splits, seed=seed)
    metric.update(fake=probs)
    return metric.compute()


# ---------------------------------------------------------------------------- Fréchet distance


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
    def load(cls, path: str | os.PathLike) -> "GaussianStats":
        try:
            with np.load(path, allow_pickle=False) as data:
                mu, sigma, n, extractor = data["mu"], data["sigma"], int(data["n"]), str(data["extractor"])
        except FileNotFoundError:
            raise UserError(f"no feature statistics file at {path}; compute them with GaussianStats.save first") from None
        except (KeyError, ValueError, OSError) as err:
            raise UserError(f"{path} is not a genimg feature statistics file ({err}); recompute it with GaussianStats.save") from None
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise UserError(f"{path} holds mu {mu.shape} and sigma {sigma.shape}, which do not fit; recompute the file")
        return cls(torch.from_numpy(mu).double(), torch.from_numpy(sigma).double(), n, extractor)


class _MomentAccumulator:
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
        features = features.to(torch.float64)
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
    features = _as_matrix(features, "features")
    if features.shape[0] < 2:
        raise UserError(f"a covariance needs at least 2 samples, got {features.shape[0]}; pass more features")
    accumulator = _MomentAccumulator()
    accumulator.add(features)
    return accumulator.stats(extractor)


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
        value = torch.as_tensor(value).detach().to(torch.float64)
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


class FID:
    """Fréchet distance between Gaussians fitted to real and generated features, streamed.

    State: per side, count, mean and centred outer-product sum in float64 (O(d^2)).
    The real side can be cached: ``real_stats()`` gives its ``GaussianStats`` (save them),
    ``load_real_stats(stats_or_path)`` puts them back, and ``reset(keep_real=True)`` starts a
    new generated set against the same real one.
    """

    def __init__(self, extractor: str = "") -> None:
        self.extractor = extractor
        self._dimension = _SideDimension()
        self.reset()

    def reset(self, keep_real: bool = False) -> None:
        real = getattr(self, "_real", None) if keep_real else None
        self._real = real if real is not None else _MomentAccumulator()
        self._fake = _MomentAccumulator()
        if self._real.mean is None:
            self._dimension.reset()

    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        for side, features, accumulator in (("real", real, self._real), ("fake", fake, self._fake)):
            if features is not None:
                features = _as_matrix(features, side)
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
        self._real = _MomentAccumulator()
        self._real.add_stats(stats)

    def real_stats(self) -> GaussianStats:
        return self._side_stats("real", self._real)

    def fake_stats(self) -> GaussianStats:
        return self._side_stats("fake", self._fake)

    def _side_stats(self, side: str, accumulator: _MomentAccumulator) -> GaussianStats:
        if accumulator.n < 2:
            raise UserError(f"FID needs at least 2 {side} samples, got {accumulator.n}; call update({side}=features) with more")
        return accumulator.stats(self.extractor)

    def compute(self) -> float:
        real, fake = self.real_stats(), self.fake_stats()
        return frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)


def fid(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """FID between two feature sets (N, d) and (M, d); see ``FID``."""
    metric = FID()
    metric.update(real=real_features, fake=fake_features)
    return metric.compute()


# ---------------------------------------------------------------------------- sample banks


class _FeatureBank:
    """Features of one side, float32; beyond ``max_samples`` a uniform random subset (reservoir).

    Reservoir sampling (Vitter's algorithm R): the i-th sample (0-based) replaces a random
    slot with probability max_samples / (i + 1), so every sample seen is kept with equal
    probability, whatever the order and size of the batches.
    """

    def __init__(self, max_samples: int | None, generator: torch.Generator) -> None:
        self.max_samples = max_samples
        self.generator = generator
        self.chunks: list[torch.Tensor] = []
        self.seen = 0

    def add(self, features: torch.Tensor) -> None:
        # A copy: the caller may reuse its batch buffer after update() returns.
        features = features.to(device="cpu", dtype=torch.float32, copy=True)
        if self.max_samples is None or self.seen + features.shape[0] <= self.max_samples:
            self.chunks.append(features)
            self.seen += features.shape[0]
            return
        free_slots = max(self.max_samples - self.seen, 0)
        if free_slots:
            self.chunks.append(features[:free_slots])
        reservoir = torch.cat(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        rest = features[free_slots:]
        index_of_sample = self.seen + free_slots + torch.arange(rest.shape[0], dtype=torch.float64)
        slots = (torch.rand(rest.shape[0], generator=self.generator, dtype=torch.float64) * (index_of_sample + 1)).long()
        for row in torch.nonzero(slots < self.max_samples).flatten().tolist():
            reservoir[slots[row]] = rest[row]  # in order: a later sample may overwrite an earlier one
        self.chunks = [reservoir]
        self.seen += features.shape[0]

    def features(self) -> torch.Tensor:
        if len(self.chunks) > 1:
            self.chunks = [torch.cat(self.chunks)]
        return self.chunks[0] if self.chunks else torch.zeros(0, 0)

    @property
    def count(self) -> int:
        return sum(chunk.shape[0] for chunk in self.chunks)


def _check_max_samples(max_samples: int | None) -> int | None:
    if max_samples is not None and not (isinstance(max_samples, int) and max_samples >= 2):
        raise UserError(f"max_samples must be None (keep all) or an integer >= 2, got {max_samples!r}")
    return max_samples


class _TwoSidedBank:
    """The real and fake feature banks shared by KID and precision/recall."""

    def __init__(self, max_samples: int | None, seed: int) -> None:
        self.max_samples = _check_max_samples(max_samples)
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        self.sides = {"real": _FeatureBank(self.max_samples, generator), "fake": _FeatureBank(self.max_samples, generator)}
        self.dimension = _SideDimension()

    def update(self, real, fake) -> None:
        for side, features in (("real", real), ("fake", fake)):
            if features is not None:
                features = _as_matrix(features, side)
                self.dimension.check(features, side)
                self.sides[side].add(features)

    def features(self, metric: str, at_least: int) -> tuple[torch.Tensor, torch.Tensor]:
        for side, bank in self.sides.items():
            if bank.count < at_least:
                raise UserError(f"{metric} needs at least {at_least} {side} samples, got {bank.count}; call update({side}=features) with more")
        return self.sides["real"].features(), self.sides["fake"].features()


# ---------------------------------------------------------------------------- KID


@dataclass(frozen=True)
class KIDResult:
    """Mean and standard deviation (ddof=0, as torchmetrics) of the unbiased MMD^2 over subsets."""

    mean: float
    std: float
    subset_size: int
    n_subsets: int
    per_subset: list[float] = field(repr=False)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "subset_size": self.subset_size, "n_subsets": self.n_subsets}


def _polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int, coef: float) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + coef) ** degree


def _unbiased_mmd2(real: torch.Tensor, fake: torch.Tensor, degree: int, coef: float) -> torch.Tensor:
    """Unbiased MMD^2 of two equal-size samples: the diagonals k(x, x) are left out of the within-set means."""
    m = real.shape[0]
    k_real = _polynomial_kernel(real, real, degree, coef)
    k_fake = _polynomial_kernel(fake, fake, degree, coef)
    k_cross = _polynomial_kernel(real, fake, degree, coef)
    within = (k_real.sum() - k_real.diagonal().sum()) + (k_fake.sum() - k_fake.diagonal().sum())
    return within / (m * (m - 1)) - 2 * k_cross.sum() / (m * m)


class KID:
    """Kernel Inception Distance: unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, over random subsets.

    Each of ``n_subsets`` subsets draws ``subset_size`` real and as many fake samples
    without replacement (capped at the smaller sample count); the result is the mean and
    std over subsets. The draws use a ``torch.Generator`` seeded with ``seed`` in the same
    order as torchmetrics (a real permutation, then a fake one, per subset), so with
    ``torch.manual_seed(seed)`` torchmetrics picks the same subsets. Kernels are evaluated
    in float64: the MMD is a small difference of large kernel sums.

    Memory: the features of both sides in float32 (see the module docstring), bounded by
    ``max_samples`` through reservoir sampling; each subset needs three m x m float64
    kernel matrices (m = 1000: 23 MiB).
    """

    def __init__(
        self,
        subset_size: int = 1000,
        n_subsets: int = 100,
        seed: int = 0,
        degree: int = 3,
        coef: float = 1.0,
        max_samples: int | None = None,
    ) -> None:
        for name, value in (("subset_size", subset_size), ("n_subsets", n_subsets), ("degree", degree)):
            if not (isinstance(value, int) and value >= 1):
                raise UserError(f"KID {name} must be a positive integer, got {value!r}")
        self.subset_size, self.n_subsets, self.seed = subset_size, n_subsets, seed
        self.degree, self.coef = degree, float(coef)
        self._bank = _TwoSidedBank(max_samples, seed)

    def reset(self) -> None:
        self._bank.reset()

    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        self._bank.update(real, fake)

    def compute(self) -> KIDResult:
        real, fake = self._bank.features("KID", at_least=2)
        subset_size = min(self.subset_size, real.shape[0], fake.shape[0])
        generator = torch.Generator().manual_seed(self.seed)
        values = []
        for _ in range(self.n_subsets):
            real_subset = real[torch.randperm(real.shape[0], generator=generator)[:subset_size]]
            fake_subset = fake[torch.randperm(fake.shape[0], generator=generator)[:subset_size]]
            values.append(_unbiased_mmd2(real_subset.double(), fake_subset.double(), self.degree, self.coef))
        values = torch.stack(values)
        return KIDResult(
            mean=float(values.mean()),
            std=float(values.std(correction=0)),
            subset_size=subset_size,
            n_subsets=self.n_subsets,
            per_subset=values.tolist(),
        )


def kid(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    subset_size: int = 1000,
    n_subsets: int = 100,
    seed: int = 0,
) -> KIDResult:
    """KID between two feature sets (N, d) and (M, d); see ``KID``."""
    metric = KID(subset_size=subset_size, n_subsets=n_subsets, seed=seed)
    metric.update(real=real_features, fake=fake_features)
    return metric.compute()


# ---------------------------------------------------------------------------- precision / recall


@dataclass(frozen=True)
class PrecisionRecallResult:
    precision: float
    recall: float
    k: int
    num_real: int
    num_fake: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# Rows of a pairwise-distance block: enough that one block of float64 distances stays
# around 64 MiB whatever the sample counts.
DISTANCE_BLOCK_ELEMENTS = 8 * 2**20


def _squared_distances(rows: torch.Tensor, columns: torch.Tensor, column_norms: torch.Tensor) -> torch.Tensor:
    row_norms = rows.square().sum(dim=1)
    return (row_norms[:, None] + column_norms[None, :] - 2 * rows @ columns.T).clamp(min=0)


def _knn_radii_squared(features: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each sample to its k-th nearest other sample of the same set."""
    n = features.shape[0]
    norms = features.square().sum(dim=1)
    radii = torch.empty(n, dtype=torch.float64)
    block = max(1, DISTANCE_BLOCK_ELEMENTS // n)
    for start in range(0, n, block):
        distances = _squared_distances(features[start : start + block], features, norms)
        rows = torch.arange(distances.shape[0])
        distances[rows, start + rows] = 0.0  # the sample itself, exactly, whatever the rounding
        # Smallest is the sample itself, so the (k+1)-th smallest is its k-th neighbour.
        radii[start : start + block] = distances.kthvalue(k + 1, dim=1).values
    return radii


def _fraction_inside(queries: torch.Tensor, support: torch.Tensor, radii_squared: torch.Tensor) -> float:
    """Fraction of queries within the k-NN ball of at least one support sample."""
    support_norms = support.square().sum(dim=1)
    block = max(1, DISTANCE_BLOCK_ELEMENTS // support.shape[0])
    inside = 0
    for start in range(0, queries.shape[0], block):
        distances = _squared_distances(queries[start : start + block], support, support_norms)
        inside += int((distances <= radii_squared[None, :]).any(dim=1).sum())
    return inside / queries.shape[0]


class PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds in feature space.

    Each set's manifold is the union of balls around its samples, each ball reaching to the
    sample's k-th nearest neighbour in the same set (k = 3 by default, as in the paper).
    Precision: the fraction of generated samples inside the real manifold (are samples
    realistic?). Recall: the fraction of real samples inside the generated manifold (is
    the data covered?). A point on a ball's boundary counts as inside, as in the reference
    code. Distances are computed in float64, in blocks of ``DISTANCE_BLOCK_ELEMENTS``.

    Memory: both sides' features in float32, bounded by ``max_samples`` (reservoir,
    seeded). Time: O((N + M)^2 d) for the distances.
    """

    def __init__(self, k: int = 3, max_samples: int | None = None, seed: int = 0) -> None:
        if not (isinstance(k, int) and k >= 1):
            raise UserError(f"precision/recall k must be a positive integer, got {k!r}; the paper uses 3")
        self.k = k
        self._bank = _TwoSidedBank(max_samples, seed)

    def reset(self) -> None:
        self._bank.reset()

    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        self._bank.update(real, fake)

    def compute(self) -> PrecisionRecallResult:
        real, fake = self._bank.features("precision/recall", at_least=self.k + 1)
        real, fake = real.double(), fake.double()
        precision = _fraction_inside(fake, real, _knn_radii_squared(real, self.k))
        recall = _fraction_inside(real, fake, _knn_radii_squared(fake, self.k))
        return PrecisionRecallResult(precision, recall, self.k, real.shape[0], fake.shape[0])


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3) -> PrecisionRecallResult:
    """Improved precision and recall between feature sets (N, d) and (M, d); see ``PrecisionRecall``."""
    metric = PrecisionRecall(k=k)
    metric.update(real=real_features, fake=fake_features)
    return metric.compute()


__all__ = [
    "FID",
    "KID",
    "GaussianStats",
    "InceptionScore",
    "InceptionScoreResult",
    "KIDResult",
    "PrecisionRecall",
    "PrecisionRecallResult",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "inception_score",
    "kid",
    "precision_recall",
    "split_assignment",
]
