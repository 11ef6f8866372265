"""The outlier scores built on per-image quantities, each oriented so that higher = more OOD.

    complexity  Serrà et al. 2020: -log2 p(x) - L(x), with L(x) the length in bits of x as a PNG
    ratio       Ren et al. 2019, negated: log p_bg(x) - log p(x) = NLL - NLL_background
    typicality  Nalisnick et al. 2019b: |mean NLL of a batch - mean NLL of the val split|
    disc        -D(x), a GAN discriminator's negated logit (not a likelihood)

The likelihoods themselves are in ``likelihood.py``, the background model in ``background.py``.
"""

from __future__ import annotations

import io
import math

import torch
from PIL import Image

from genimg.models.base import GenerativeModel


def png_bits(image: torch.Tensor, levels: int | None) -> int:
    """Length in bits of one CHW image in [0, 1] saved as PNG (Pillow, optimize=True): pixels
    stored as grey-level indices 0..levels-1 for discrete data, as 8-bit values otherwise."""
    scale = (levels - 1) if levels is not None and levels <= 256 else 255
    array = torch.round(image.detach().cpu().clamp(0, 1) * scale).to(torch.uint8).numpy()
    if array.shape[0] == 1:
        pil = Image.fromarray(array[0], mode="L")
    else:
        pil = Image.fromarray(array.transpose(1, 2, 0), mode="RGB")
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", optimize=True)
    return 8 * len(buffer.getvalue())


def complexity_bits(images: torch.Tensor, levels: int | None) -> torch.Tensor:
    """``png_bits`` of each image, as float64. The PNG container adds the same ~540 bits to every
    image of one shape, which shifts the complexity score by a constant and changes no ranking."""
    return torch.tensor([png_bits(image, levels) for image in images], dtype=torch.float64)


def complexity_score(nll_nats: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Serrà et al.'s S(x) = -log2 p(x) - L(x), both in bits."""
    return nll_nats.double() / math.log(2) - bits.double()


def likelihood_ratio_score(nll_model: torch.Tensor, nll_background: torch.Tensor) -> torch.Tensor:
    """-(log p(x) - log p_bg(x)) = NLL_model - NLL_background: higher = more OOD."""
    return nll_model.double() - nll_background.double()


def random_batches(values: torch.Tensor, m: int, generator: torch.Generator) -> torch.Tensor:
    """Shuffle ``values`` and cut them into disjoint batches of ``m`` (the remainder is dropped): (B, m)."""
    count = values.shape[0] // m
    order = torch.randperm(values.shape[0], generator=generator)[: count * m]
    return values[order].view(count, m)


def typicality_statistic(batch_nll: torch.Tensor, reference_mean: float) -> torch.Tensor:
    """|mean NLL of each batch (row) - the in-distribution mean NLL|: far from typical = OOD."""
    return (batch_nll.double().mean(1) - reference_mean).abs()


def discriminator_scores(model: GenerativeModel, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """-D(x) per image: the discriminator's "looks fake" direction, so higher = more OOD."""
    with torch.inference_mode():
        logits = [
            model.discriminator_score(images[start : start + batch_size].to(model.device))
            for start in range(0, images.shape[0], batch_size)
        ]
    return torch.cat([-logit.double().cpu().flatten() for logit in logits])
