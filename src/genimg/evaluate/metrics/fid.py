"""Fréchet Inception Distance (Heusel et al. 2017): the Fréchet distance between Gaussians fitted
to real and generated features, streamed."""

from __future__ import annotations

import os
from typing import ClassVar

import torch

from genimg.errors import UserError
from genimg.evaluate.metrics.frechet import frechet_distance
from genimg.evaluate.metrics.gaussian_stats import GaussianStats, MomentAccumulator
from genimg.evaluate.metrics.inputs import SideDimension, as_matrix


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
