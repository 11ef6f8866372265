"""One image set's per-image quantities (NLL, background NLL, PNG bits, discriminator logit),
and the scores read from them: per image, or per batch for the typicality test."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch

from genimg.tasks.outliers.scores import (
    complexity_score,
    likelihood_ratio_score,
    random_batches,
    typicality_statistic,
)


@dataclass
class ScoredSet:
    """Per-image quantities of one image set (the test split, the val split or an OOD set)."""

    name: str
    images: torch.Tensor
    nll: torch.Tensor | None = None
    nll_background: torch.Tensor | None = None
    bits: torch.Tensor | None = None
    disc: torch.Tensor | None = None

    def score(self, name: str) -> torch.Tensor:
        """Per-image score ``name`` (any score but typicality, which scores batches)."""
        if name == "nll":
            return self.nll
        if name == "ratio":
            return likelihood_ratio_score(self.nll, self.nll_background)
        if name == "complexity":
            return complexity_score(self.nll, self.bits)
        if name == "disc":
            return self.disc
        raise KeyError(name)


def typicality_batches(
    by_name: dict[str, ScoredSet], set_name: str, m: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Typicality statistics of the test batches and of the OOD set's batches, for batches of m,
    against the val split's mean NLL. The batches are a function of (seed, m, set) only, so every
    call draws the same ones (the table and the histograms agree)."""
    reference = float(by_name["val"].nll.mean())
    generator = torch.Generator().manual_seed(seed * 7919 + m)
    inside = typicality_statistic(random_batches(by_name["test"].nll, m, generator), reference)
    generator = torch.Generator().manual_seed(seed * 7919 + m + zlib.crc32(set_name.encode()))
    outside = typicality_statistic(random_batches(by_name[set_name].nll, m, generator), reference)
    return inside, outside
