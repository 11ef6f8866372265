"""Mean squared error and its root, per image."""

from __future__ import annotations

import torch

from genimg.evaluate.float64 import as_float64
from genimg.evaluate.metrics.image_scores import ImageScores, check_image_pair

HIGHER_IS_BETTER = False


def per_image_mse(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Squared and averaged in float64 (after the difference, which float32 holds to one ulp):
    # exact enough for PSNR near 100 dB, and faster here than mean(dtype=torch.float64).
    return as_float64(preds - target).square().flatten(1).mean(dim=1)


def mse(preds: torch.Tensor, target: torch.Tensor) -> ImageScores:
    """Mean squared error per image (over channels and pixels), and its mean over images."""
    preds, target = check_image_pair(preds, target)
    return ImageScores.from_per_image(per_image_mse(preds, target))


def rmse(preds: torch.Tensor, target: torch.Tensor) -> ImageScores:
    """Root mean squared error per image, and the mean of those per-image values."""
    preds, target = check_image_pair(preds, target)
    return ImageScores.from_per_image(per_image_mse(preds, target).sqrt())
