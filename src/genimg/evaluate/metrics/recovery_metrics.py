"""MSE, RMSE, PSNR and SSIM of recovered images, streamed over batches."""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.evaluate.metrics.image_scores import (
    ImageScores,
    check_data_range,
    check_image_pair,
    per_image_mse,
    psnr_from_mse,
)
from genimg.evaluate.metrics.ssim import SSIM_BORDERS, SSIMBorder, ssim


class RecoveryMetrics:
    """MSE, RMSE, PSNR and SSIM accumulated over batches of (recovered, original) image pairs.

    Keeps one float64 per image and metric (O(N) memory, 32 bytes an image), so the
    per-image values stay available for tables and worst-case inspection.
    """

    names = ("mse", "rmse", "psnr", "ssim")

    def __init__(self, data_range: float = 1.0, ssim_border: SSIMBorder = "reflect") -> None:
        if ssim_border not in SSIM_BORDERS:
            raise UserError(f"unknown SSIM border {ssim_border!r}; use one of {', '.join(SSIM_BORDERS)}")
        self.data_range = check_data_range(data_range)
        self.ssim_border = ssim_border
        self.reset()

    def reset(self) -> None:
        self._per_image: dict[str, list[torch.Tensor]] = {name: [] for name in self.names}

    @torch.inference_mode()
    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        per_image_ssim = ssim(preds, target, border=self.ssim_border, data_range=self.data_range).per_image
        preds, target = check_image_pair(preds, target)
        squared_error = per_image_mse(preds, target).cpu()
        self._per_image["mse"].append(squared_error)
        self._per_image["rmse"].append(squared_error.sqrt())
        self._per_image["psnr"].append(psnr_from_mse(squared_error, self.data_range))
        self._per_image["ssim"].append(per_image_ssim)

    def compute(self) -> dict[str, ImageScores]:
        if not self._per_image["mse"]:
            raise UserError("RecoveryMetrics.compute() called before any update(); pass image pairs to update() first")
        return {name: ImageScores.from_per_image(torch.cat(values)) for name, values in self._per_image.items()}
