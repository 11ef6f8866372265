"""The ``recon`` view: images beside their decoded codes, each scored with MSE and SSIM."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from genimg.evaluate.metrics.image_scores import mse
from genimg.evaluate.metrics.ssim import ssim
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.tasks.explore.figures import pixel_scale, space_title, tile, tiled_figure, with_figure
from genimg.tasks.explore.space import check_images, in_batches, latent_space
from genimg.tasks.explore.views import require_view


@dataclass
class Reconstructions:
    originals: torch.Tensor  # (N, C, H, W)
    reconstructions: torch.Tensor  # (N, C, H, W)
    labels: torch.Tensor | None
    mse: torch.Tensor  # (N,) float64, per image
    ssim: torch.Tensor  # (N,) float64, per image (Gaussian window, reflect border; see evaluate.metrics.ssim)
    path: Path | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "images": int(self.mse.numel()),
            "mse_mean": float(self.mse.mean()),
            "ssim_mean": float(self.ssim.mean()),
            "mse": self.mse.tolist(),
            "ssim": self.ssim.tolist(),
        }


@torch.inference_mode()
def reconstructions(
    model: GenerativeModel | LatentSpace,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    out: str | Path | None = None,
    ddim_steps: int = 50,
    per_row: int = 8,
) -> Reconstructions:
    """Encode and decode ``images``; score each reconstruction with MSE and SSIM against its original."""
    space = latent_space(model, ddim_steps)
    require_view(space, "recon")
    check_images(images, space)
    y = space.labels_for(labels, images.shape[0])
    recon = in_batches(space.reconstruct, images, y).float().clamp(0, 1)
    originals = images.to(recon.device).float()
    result = Reconstructions(
        originals.cpu(),
        recon.cpu(),
        None if labels is None else torch.as_tensor(labels).cpu(),
        mse(recon, originals).per_image,
        ssim(recon, originals).per_image,
    )
    return with_figure(result, out, lambda r: draw_reconstructions(r, space, per_row))


def draw_reconstructions(result: Reconstructions, space: LatentSpace, per_row: int = 8) -> Figure:
    """Rows of ``per_row`` originals, each above its reconstruction and that one's scores."""
    n = result.originals.shape[0]
    scale = pixel_scale(result.originals.shape[-2])
    text_gap = math.ceil(34 / scale)  # room for two lines of scores under each reconstruction
    cells: list[list[torch.Tensor | None]] = []
    names: list[str] = []
    score_rows: list[list[int]] = []
    for start in range(0, n, per_row):
        block = range(start, min(start + per_row, n))
        cells.append([result.originals[i] for i in block])
        cells.append([result.reconstructions[i] for i in block])
        names += ["original", "reconstruction"]
        score_rows.append(list(block))
    tiling = tile(cells, row_gaps={2 * b + 1: text_gap for b in range(len(score_rows))})
    figure, ax = tiled_figure(tiling.array, scale, top=0.9)
    ax.set_yticks(tiling.y_centres, names, fontsize=9)
    ax.set_xticks([])
    for b, indices in enumerate(score_rows):
        for c, i in enumerate(indices):
            ax.text(
                tiling.x_centres[c],
                tiling.bottoms[2 * b + 1] + 0.3,
                f"MSE {float(result.mse[i]):.4f}\nSSIM {float(result.ssim[i]):.3f}",
                ha="center",
                va="top",
                fontsize=7,
                linespacing=1.1,
            )
    ax.set_title(
        f"Reconstructions ({space_title(space)})\nmean MSE {float(result.mse.mean()):.4f}, "
        f"mean SSIM {float(result.ssim.mean()):.3f} over {n} test images",
        fontsize=10,
    )
    return figure
