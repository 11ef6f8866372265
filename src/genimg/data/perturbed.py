"""``perturbed:mu=M,seed=S:BASE``: dataset BASE with a fraction M of its pixels replaced by
random grey levels, the background data of Ren et al.'s likelihood-ratio outlier score (2019).

Each split gets one fixed perturbation per image, different for every split and seed, so a
background model trained on it is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch

from genimg.data.dataset import SPLITS, ImageDataset
from genimg.errors import UserError


def random_levels(shape: tuple[int, ...], levels: int | None, generator: torch.Generator) -> torch.Tensor:
    """Values drawn uniformly from the grey levels (uniform in [0, 1] for continuous data)."""
    if levels is None:
        return torch.rand(shape, generator=generator)
    return torch.randint(0, levels, shape, generator=generator).float() / (levels - 1)


def perturb(images: torch.Tensor, mu: float, levels: int | None, generator: torch.Generator) -> torch.Tensor:
    """Replace each pixel value, independently with probability ``mu``, by a grey level drawn
    uniformly from the data's ``levels`` (uniform in [0, 1] for continuous data)."""
    shape = tuple(images.shape)
    mask = torch.rand(shape, generator=generator) < mu
    noise = random_levels(shape, levels, generator)
    return torch.where(mask.to(images.device), noise.to(images.device), images)


def perturbed_dataset_name(base: str, mu: float, seed: int) -> str:
    return f"perturbed:mu={mu:g},seed={seed}:{base}"


def load_perturbed(
    split: str,
    *,
    path: str,
    root: str | None = None,
    image_size: int | None = None,
    load_base: Callable[..., ImageDataset],
) -> ImageDataset:
    """``path`` is ``mu=M,seed=S:BASE``; ``load_base`` loads BASE (the registry's ``load_dataset``)."""
    params, sep, base = path.partition(":")
    where = f"perturbed:{path}"
    try:
        settings = dict(item.split("=", 1) for item in params.split(","))
        mu, seed = float(settings.pop("mu")), int(settings.pop("seed", 0))
    except (ValueError, KeyError):
        settings, mu, seed = {"?": ""}, math.nan, 0
    if not sep or not base or settings or not 0 < mu < 1:
        raise UserError(
            f"{where}: write perturbed:mu=M,seed=S:BASE with 0 < M < 1, e.g. perturbed:mu=0.15,seed=0:digits"
        )
    data = load_base(base, split, root=root, image_size=image_size)
    assert isinstance(data.images, torch.Tensor)  # load_base, given no max_bytes, holds every split in memory
    generator = torch.Generator().manual_seed(seed * len(SPLITS) + SPLITS.index(split))
    return replace(
        data, name=where, images=perturb(data.images, mu, data.levels, generator), source=f"{data.source} (perturbed)"
    )
