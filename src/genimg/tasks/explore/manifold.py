"""The ``manifold`` view: an n x n grid of decoded codes spanning two directions of the latent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.tasks.explore.figures import class_note, pixel_scale, space_title, tile, tiled_figure, with_figure
from genimg.tasks.explore.space import check_images, check_label, in_batches, latent_space
from genimg.tasks.explore.views import require_view


@dataclass
class Manifold:
    coords: torch.Tensor  # (n, n, 2): grid coordinates; columns go right along axis 0, rows go up along axis 1
    codes: torch.Tensor  # (n, n, D): the latent code of every cell
    images: torch.Tensor  # (n, n, C, H, W)
    axes: tuple[str, str]  # what the two coordinates are
    basis: str  # "prior quantiles" (2-D latents) or "principal directions"
    path: Path | None = None


@torch.inference_mode()
def manifold(
    model: GenerativeModel | LatentSpace,
    *,
    n: int = 15,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    label: int | None = None,
    span: float = 2.5,
    out: str | Path | None = None,
) -> Manifold:
    """Decode an n x n grid of codes.

    A 2-D latent: the grid is the prior's quantiles, z_i = Phi^-1((i + 1/2) / n) on each axis, so
    every cell stands for an equal share of prior mass (Kingma & Welling 2014, figure 4). A
    higher-dimensional latent: the grid spans +-``span`` standard deviations along the two
    leading principal directions of the encoded ``images`` (a test set), around their mean.
    Row 0 is the top of the figure: the second coordinate grows upwards, the first to the right.
    A class-conditional model decodes every cell with ``label`` (default 0).
    """
    space = latent_space(model)
    require_view(space, "manifold")
    if n < 2:
        raise UserError(f"the manifold grid needs at least 2 cells a side, got {n}")
    if space.dim == 2:
        probabilities = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        axis = torch.special.ndtri(probabilities)
        coords = _grid(axis, axis)
        codes = coords.clone()
        axes = ("z1 (prior quantile)", "z2 (prior quantile)")
        basis = "prior quantiles"
    else:
        if images is None:
            raise UserError(
                f"the manifold of a {space.dim}-D latent needs test images to find its principal directions"
            )
        if span <= 0:
            raise UserError(f"span must be positive, got {span}")
        check_images(images, space)
        encoded = in_batches(space.encode, images, space.labels_for(labels, images.shape[0])).double().cpu()
        mean, directions, stds, ratios = _principal_directions(encoded, 2)
        axis = torch.linspace(-span, span, n, dtype=torch.float64)
        coords = _grid(axis, axis)  # in standard deviations along each direction
        codes = mean + (coords[..., :1] * stds[0]) * directions[0] + (coords[..., 1:] * stds[1]) * directions[1]
        axes = (
            f"PC1 of the codes, in std ({ratios[0]:.0%} of variance)",
            f"PC2 of the codes, in std ({ratios[1]:.0%} of variance)",
        )
        basis = "principal directions"
    check_label(space, label)
    y = space.labels_for(0 if label is None else label, n * n) if space.conditional else None
    decoded = in_batches(space.decode, codes.reshape(n * n, -1).float(), y).float().cpu()
    result = Manifold(coords.float(), codes.float(), decoded.reshape(n, n, *decoded.shape[1:]), axes, basis)
    return with_figure(result, out, lambda r: draw_manifold(r, space, class_note(y)))


def draw_manifold(result: Manifold, space: LatentSpace, note: str = "") -> Figure:
    """The grid as a table of images, its coordinates on the axes; ``note`` ends the title's second line."""
    n = result.images.shape[0]
    scale = pixel_scale(result.images.shape[-2])
    tiling = tile([[result.images[r, c] for c in range(n)] for r in range(n)])
    figure, ax = tiled_figure(tiling.array, scale, left=1.0, bottom=0.9, top=0.8)
    ticks = _tick_subset(n)
    ax.set_xticks(
        [tiling.x_centres[c] for c in ticks], [_number(result.coords[0, c, 0]) for c in ticks], fontsize=8, rotation=90
    )
    ax.set_yticks([tiling.y_centres[r] for r in ticks], [_number(result.coords[r, 0, 1]) for r in ticks], fontsize=8)
    ax.set_xlabel(result.axes[0], fontsize=9)
    ax.set_ylabel(result.axes[1], fontsize=9)
    how = (
        "decoded on the prior's quantiles"
        if result.basis == "prior quantiles"
        else "decoded along the two leading principal directions of the encoded test set"
    )
    ax.set_title(f"Latent manifold, {how}\n{space_title(space)}{note}", fontsize=10)
    return figure


def _grid(x_axis: torch.Tensor, y_axis: torch.Tensor) -> torch.Tensor:
    """(n, n, 2) coordinates: column c has x_axis[c]; row r has y_axis[n - 1 - r] (y grows upwards)."""
    n = x_axis.numel()
    xs = x_axis[None, :].expand(n, n)
    ys = y_axis.flip(0)[:, None].expand(n, n)
    return torch.stack([xs, ys], -1)


def _principal_directions(
    codes: torch.Tensor, k: int
) -> tuple[torch.Tensor, list[torch.Tensor], list[float], list[float]]:
    """Mean, the k leading principal directions (unit vectors), their standard deviations and
    shares of the total variance: scikit-learn's PCA, as in the scatter's PCA panel."""
    if codes.shape[0] < 2:
        raise UserError("principal directions need at least 2 encoded images")
    pca = PCA(n_components=k).fit(codes.double().numpy())
    mean = torch.from_numpy(pca.mean_)
    directions = [torch.from_numpy(pca.components_[i]) for i in range(k)]
    stds = [float(np.sqrt(pca.explained_variance_[i])) for i in range(k)]
    return mean, directions, stds, [float(r) for r in pca.explained_variance_ratio_[:k]]


def _tick_subset(count: int, most: int = 15) -> list[int]:
    """Every few cells, so that at most ``most`` tick labels share an axis."""
    stride = max(1, math.ceil(count / most))
    return list(range(0, count, stride))


def _number(value: torch.Tensor | float) -> str:
    return f"{round(float(value), 2) + 0.0:.2f}"  # + 0.0 turns -0.00 into 0.00
