"""The latent space a view works in, and the checked, batched calls every view makes on it."""

from __future__ import annotations

from collections.abc import Callable

import torch

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace

ENCODE_BATCH = 256  # images per encoder call: bounds memory for DDIM inversion of a whole test set


def latent_space(model: GenerativeModel | LatentSpace, ddim_steps: int = 50) -> LatentSpace:
    """The model's latent space (its ``latent`` capability); a space passes through unchanged."""
    if isinstance(model, LatentSpace):
        return model
    model.require("latent", "exploring a model")
    return model.latent_space(steps=ddim_steps)


def in_batches(
    fn: Callable[..., torch.Tensor], inputs: torch.Tensor, labels: torch.Tensor | None, batch: int = ENCODE_BATCH
) -> torch.Tensor:
    """``fn(inputs, labels)`` (an encode or a decode) over chunks of ``batch`` rows, concatenated."""
    chunks = []
    for start in range(0, inputs.shape[0], batch):
        chunks.append(fn(inputs[start : start + batch], None if labels is None else labels[start : start + batch]))
    return torch.cat(chunks)


def check_images(images: torch.Tensor, space: LatentSpace) -> torch.Tensor:
    """``images`` unchanged if they are a non-empty (N, C, H, W) batch of the model's image shape."""
    expected = tuple(space.model.spec.image_shape)
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != expected:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise UserError(f"expected images of shape (N, {', '.join(map(str, expected))}) in [0, 1], got {shape}")
    if images.shape[0] == 0:
        raise UserError("no images given; pass at least one")
    return images


def check_label(space: LatentSpace, label: int | None) -> None:
    """Refuse a class label for an unconditional model, which would silently ignore it."""
    if label is not None and not space.conditional:
        raise UserError(f"this {space.model.family} is not class-conditional; leave out the label")
