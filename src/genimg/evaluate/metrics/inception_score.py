"""Inception Score (Salimans et al. 2016) from class probabilities, reported as sharpness x diversity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from genimg.errors import UserError
from genimg.evaluate.metrics.fid import as_matrix
from genimg.models.precision import as_float64


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

    higher_is_better: ClassVar[bool] = True
    score_keys: ClassVar[tuple[str, ...]] = ("is", "sharpness", "diversity")  # what it adds to an evaluation

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
                self._add(side, check_probabilities(probs, side))

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
            raise UserError(
                f"InceptionScore got {seen} {side} samples for {self.splits} splits; pass more samples or fewer splits"
            )
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
