"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from genimg.errors import UserError
from genimg.evaluate.metrics.feature_bank import TwoSidedBank


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

    higher_is_better: ClassVar[bool] = False
    score_keys: ClassVar[tuple[str, ...]] = ("kid",)  # what it adds to an evaluation

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
        self._bank = TwoSidedBank(max_samples, seed)

    def reset(self) -> None:
        self._bank.reset()

    def update(self, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        self._bank.update(real, fake)

    def compute(self) -> KIDResult:
        real, fake = self._bank.features("KID", at_least=2)
        subset_size = min(self.subset_size, real.shape[0], fake.shape[0])
        generator = torch.Generator().manual_seed(self.seed)
        per_subset: list[torch.Tensor] = []
        for _ in range(self.n_subsets):
            real_subset = real[torch.randperm(real.shape[0], generator=generator)[:subset_size]]
            fake_subset = fake[torch.randperm(fake.shape[0], generator=generator)[:subset_size]]
            per_subset.append(_unbiased_mmd2(real_subset.double(), fake_subset.double(), self.degree, self.coef))
        values = torch.stack(per_subset)
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
