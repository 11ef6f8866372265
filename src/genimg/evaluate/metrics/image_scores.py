"""Per-image metrics of recovered images against originals (float images in [0, 1]): the
checks their inputs pass, the result they share (``ImageScores``), and the pixel-error metrics
MSE, RMSE and PSNR. SSIM, which shares the checks and the result, is ``ssim.py``.

Averages are means of per-image values (the convention of restoration papers), so
``rmse(...).mean`` is the mean of per-image RMSEs, not the square root of a pooled MSE, and
``psnr(...).mean`` is the mean of per-image PSNRs. torchmetrics' ``peak_signal_noise_ratio``
pools all pixels unless it is given ``dim=(1, 2, 3)``; with that argument it agrees with ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genimg.errors import UserError
from genimg.models.precision import as_float64

# Which way is better, by score (``genimg.evaluate.directions`` collects it).
HIGHER_IS_BETTER = {"mse": False, "rmse": False, "psnr": True}


@dataclass(frozen=True)
class ImageScores:
    """One metric over a batch: the value of every image and their mean.

    ``per_image`` is a float64 tensor of shape (N,). ``mean`` is the mean of its finite
    entries; ``num_infinite`` counts the others. Only PSNR can be infinite (an image recovered
    exactly has zero error); if every image is exact, ``mean`` is +inf. The mean never
    becomes NaN and an exact image does not turn the whole average into +inf.
    """

    per_image: torch.Tensor
    mean: float
    num_infinite: int = 0

    @classmethod
    def from_per_image(cls, per_image: torch.Tensor) -> ImageScores:
        per_image = as_float64(per_image.detach()).cpu()
        finite = torch.isfinite(per_image)
        num_infinite = int((~finite).sum())
        mean = float(per_image[finite].mean()) if finite.any() else math.inf
        return cls(per_image=per_image, mean=mean, num_infinite=num_infinite)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "num_images": int(self.per_image.numel()), "num_infinite": self.num_infinite}


def check_image_pair(preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both must be float NCHW tensors of one shape with values in [0, 1]; returns them in one dtype."""
    for name, images in (("preds", preds), ("target", target)):
        if not isinstance(images, torch.Tensor):
            raise UserError(
                f"{name} must be a torch.Tensor of images, got {type(images).__name__}; convert with torch.as_tensor"
            )
        if images.ndim != 4:
            raise UserError(
                f"{name} must be NCHW (batch, channels, height, width), got shape {tuple(images.shape)}; "
                "add a batch axis with images.unsqueeze(0) or a channel axis with images.unsqueeze(1)"
            )
        if not images.is_floating_point():
            raise UserError(
                f"{name} has dtype {images.dtype}; metrics take float images in [0, 1], "
                "convert with images.float() / 255"
            )
        if images.numel() == 0:
            raise UserError(f"{name} is empty (shape {tuple(images.shape)}); pass at least one image")
    if preds.shape != target.shape:
        raise UserError(
            f"preds has shape {tuple(preds.shape)} but target has {tuple(target.shape)}; pass images of the same shape"
        )
    for name, images in (("preds", preds), ("target", target)):
        low, high = (float(value) for value in torch.aminmax(images))
        if math.isnan(low) or math.isnan(high) or low < 0.0 or high > 1.0:
            raise UserError(
                f"{name} has values in [{low:.4g}, {high:.4g}] but metrics take images in [0, 1]; "
                "map [-1, 1] outputs with (x + 1) / 2 and clamp with x.clamp(0, 1)"
            )
    dtype = torch.promote_types(preds.dtype, target.dtype)
    return preds.to(dtype), target.to(dtype)


def check_data_range(data_range: float) -> float:
    if not data_range > 0:
        raise UserError(f"data_range must be positive, got {data_range}; images in [0, 1] have data_range=1")
    return float(data_range)


# Mean squared error and its root, per image.
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


# Peak signal-to-noise ratio, per image, in dB.
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
