"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds in feature space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from genimg.errors import UserError
from genimg.evaluate.metrics.feature_bank import TwoSidedBank


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

    higher_is_better: ClassVar[bool] = True
    score_keys: ClassVar[tuple[str, ...]] = ("precision", "recall")  # what it adds to an evaluation

    def __init__(self, k: int = 3, max_samples: int | None = None, seed: int = 0) -> None:
        if not (isinstance(k, int) and k >= 1):
            raise UserError(f"precision/recall k must be a positive integer, got {k!r}; the paper uses 3")
        self.k = k
        self._bank = TwoSidedBank(max_samples, seed)

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
