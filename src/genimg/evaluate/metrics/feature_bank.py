"""Features kept for metrics defined on pairs of samples (KID, precision/recall), bounded by reservoir sampling."""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.evaluate.metrics.fid import SideDimension, as_matrix


class FeatureBank:
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
        slots = (
            torch.rand(rest.shape[0], generator=self.generator, dtype=torch.float64) * (index_of_sample + 1)
        ).long()
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


def check_max_samples(max_samples: int | None) -> int | None:
    if max_samples is not None and not (isinstance(max_samples, int) and max_samples >= 2):
        raise UserError(f"max_samples must be None (keep all) or an integer >= 2, got {max_samples!r}")
    return max_samples


class TwoSidedBank:
    """The real and fake feature banks shared by KID and precision/recall."""

    def __init__(self, max_samples: int | None, seed: int) -> None:
        self.max_samples = check_max_samples(max_samples)
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        self.sides = {
            "real": FeatureBank(self.max_samples, generator),
            "fake": FeatureBank(self.max_samples, generator),
        }
        self.dimension = SideDimension()

    def update(self, real, fake) -> None:
        for side, features in (("real", real), ("fake", fake)):
            if features is not None:
                features = as_matrix(features, side)
                self.dimension.check(features, side)
                self.sides[side].add(features)

    def features(self, metric: str, at_least: int) -> tuple[torch.Tensor, torch.Tensor]:
        for side, bank in self.sides.items():
            if bank.count < at_least:
                raise UserError(
                    f"{metric} needs at least {at_least} {side} samples, got {bank.count}; "
                    f"call update({side}=features) with more"
                )
        return self.sides["real"].features(), self.sides["fake"].features()
