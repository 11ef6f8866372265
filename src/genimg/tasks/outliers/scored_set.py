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
            return measured(self.nll, name)
        if name == "ratio":
            return likelihood_ratio_score(measured(self.nll, name), measured(self.nll_background, name))
        if name == "complexity":
            return complexity_score(measured(self.nll, name), measured(self.bits, name))
        if name == "disc":
            return measured(self.disc, name)
        raise KeyError(name)


def measured(quantity: torch.Tensor | None, score: str) -> torch.Tensor:
    """A per-image quantity of a set, which the detection measures before it asks for a score of it."""
    assert quantity is not None, f"score {score} asked for a quantity that was not measured"
    return quantity


def typicality_batches(
    by_name: dict[str, ScoredSet], set_name: str, m: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Typicality statistics of the test batches and of the OOD set's batches, for batches of m,
    against the val split's mean NLL. The batches are a function of (seed, m, set) only, so every
    call draws the same ones (the table and the histograms agree)."""
    reference = float(measured(by_name["val"].nll, "typicality").mean())
    generator = torch.Generator().manual_seed(seed * 7919 + m)
    inside = typicality_statistic(random_batches(measured(by_name["test"].nll, "typicality"), m, generator), reference)
    generator = torch.Generator().manual_seed(seed * 7919 + m + zlib.crc32(set_name.encode()))
    outside = typicality_statistic(
        random_batches(measured(by_name[set_name].nll, "typicality"), m, generator), reference
    )
    return inside, outside
