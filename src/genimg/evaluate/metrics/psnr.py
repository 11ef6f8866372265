"""Peak signal-to-noise ratio, per image, in dB."""

from __future__ import annotations

import math

import torch

from genimg.evaluate.metrics.image_scores import ImageScores, check_data_range, check_image_pair
from genimg.evaluate.metrics.mse import per_image_mse

HIGHER_IS_BETTER = True


def psnr_from_mse(per_image_mse: torch.Tensor, data_range: float) -> torch.Tensor:
    # An exact recovery has zero error and infinite PSNR; say so explicitly rather than
    # relying on 1/0 (which would also warn or give NaN under some dtypes and devices).
    exact = per_image_mse == 0
    safe_mse = torch.where(exact, torch.ones_like(per_image_mse), per_image_mse)
    psnr_db = 10.0 * torch.log10(data_range**2 / safe_mse)
    return torch.where(exact, torch.full_like(psnr_db, math.inf), psnr_db)


def psnr(preds: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> ImageScores:
    """Peak signal-to-noise ratio in dB per image, 10 log10(data_range^2 / MSE), and its mean.

    Identical images give +inf for that image; the mean is taken over the finite values and
    ``num_infinite`` says how many were left out (see ``ImageScores``).
    """
    data_range = check_data_range(data_range)
    preds, target = check_image_pair(preds, target)
    return ImageScores.from_per_image(psnr_from_mse(per_image_mse(preds, target), data_range))


# ---------------------------------------------------------------------------- SSIM
