"""The ``interp`` view: decoded paths (linear or slerp) between two codes, row by row; and the
paths themselves, straight lines (``lerp``) and great circles (``slerp``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from matplotlib.figure import Figure

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.tasks.explore.figures import pixel_scale, space_title, tile, tiled_figure, with_figure
from genimg.tasks.explore.space import check_images, in_batches, latent_space


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight lines from each row of a (P, D) to the same row of b at fractions t (S,): (P, S, D)."""
    t = t.to(a.device, torch.float64)[None, :, None]
    out = (1 - t) * a.double()[:, None] + t * b.double()[:, None]
    return out.to(a.dtype)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models): (P, D), (P, D),
    fractions t (S,) -> (P, S, D).

        slerp(a, b; t) = sin((1 - t) W) / sin W * a + sin(t W) / sin W * b,  cos W = <a, b> / (|a| |b|)

    It moves along the great circle, at a constant angular speed, so a code drawn from a
    high-dimensional Gaussian (whose norm concentrates near sqrt(D)) stays at a typical norm,
    where a straight line would cut through the improbable region near the origin. With
    |a| = |b| every point keeps that norm; t = 0 and t = 1 give a and b exactly. Nearly
    parallel (or opposite) pairs, where W or sin W vanishes, fall back to the straight line.
    """
    a64, b64 = a.double(), b.double()
    cos = (a64 * b64).sum(-1) / (a64.norm(dim=-1) * b64.norm(dim=-1)).clamp_min(1e-300)
    omega = cos.clamp(-1, 1).acos()[:, None]  # (P, 1)
    t64 = t.to(a.device, torch.float64)[None, :]  # (1, S)
    sin_omega = omega.sin()
    degenerate = sin_omega.abs() < 1e-6
    safe = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)
    wa = torch.where(degenerate, 1 - t64, torch.sin((1 - t64) * omega) / safe)
    wb = torch.where(degenerate, t64.expand_as(wa), torch.sin(t64 * omega) / safe)
    out = wa[..., None] * a64[:, None] + wb[..., None] * b64[:, None]
    return out.to(a.dtype)


PATHS = {"linear": lerp, "slerp": slerp}
METHODS = tuple(PATHS)


@dataclass
class Interpolation:
    method: str  # linear or slerp
    t: torch.Tensor  # (S,) fractions from 0 to 1
    codes: torch.Tensor  # (P, S, D): the path in latent space
    images: torch.Tensor  # (P, S, C, H, W): the decoded path
    labels: torch.Tensor | None  # (P,) the class each row is decoded with (conditional models)
    # the test images at both ends, when interpolating between images
    endpoints: tuple[torch.Tensor, torch.Tensor] | None
    row_names: list[str] = field(default_factory=list)
    path: Path | None = None


@torch.inference_mode()
def interpolation(
    model: GenerativeModel | LatentSpace,
    *,
    start: torch.Tensor | None = None,
    end: torch.Tensor | None = None,
    labels: torch.Tensor | int | None = None,
    pairs: int = 6,
    steps: int = 10,
    method: str = "slerp",
    seed: int = 0,
    out: str | Path | None = None,
    ddim_steps: int = 50,
) -> Interpolation:
    """Decode a path of ``steps`` codes (linear or slerp) from each start to its end.

    With ``start`` and ``end`` images (P each) the path joins their codes (posterior means for a
    VAE, DDIM-inverted noise for diffusion), so its ends decode to the two reconstructions.
    Without them, the ends are ``pairs`` pairs of prior draws from ``seed`` (all a GAN can do).
    A class-conditional model decodes each row with one label: ``labels`` (one per row, or one
    int for all), or random labels from ``seed``. Give it start/end images of one class per row.
    """
    if method not in PATHS:
        raise UserError(f"unknown interpolation method '{method}'; choose linear or slerp")
    if steps < 2:
        raise UserError(f"an interpolation needs at least 2 steps (its two ends), got {steps}")
    space = latent_space(model, ddim_steps)
    generator = torch.Generator().manual_seed(seed)
    if start is not None and end is not None:
        ends: tuple[torch.Tensor, torch.Tensor] | None = (start, end)
    elif start is None and end is None:
        ends = None
    else:
        raise UserError("give both start and end images, or neither (then the ends are prior draws from the seed)")
    if ends is not None:
        start, end = ends
        if not space.can_encode:
            raise UserError(
                f"interpolating between images needs an encoder, and a {space.model.family} has none; "
                "interpolate between seeds instead (--between seeds)"
            )
        check_images(start, space)
        check_images(end, space)
        if start.shape != end.shape:
            raise UserError(
                f"start and end must hold the same number of images, got {tuple(start.shape)} and {tuple(end.shape)}"
            )
        pairs = start.shape[0]
    elif pairs < 1:
        raise UserError(f"pairs must be at least 1, got {pairs}")
    if space.conditional and labels is None:
        if ends is not None:
            raise UserError("this model is class-conditional: pass the class of each start/end pair as labels")
        labels = torch.randint(0, space.model.spec.num_classes, (pairs,), generator=generator)
    y = space.labels_for(labels, pairs)
    if ends is not None:
        a = in_batches(space.encode, ends[0], y)
        b = in_batches(space.encode, ends[1], y)
    else:
        a = space.prior(pairs, generator)
        b = space.prior(pairs, generator)
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    codes = PATHS[method](a, b, t)  # (P, S, D)
    y_flat = None if y is None else y.repeat_interleave(steps)
    images = in_batches(space.decode, codes.reshape(pairs * steps, -1), y_flat).float()
    images = images.reshape(pairs, steps, *images.shape[1:]).cpu()
    if ends is not None:
        names = [f"test pair {i + 1}" for i in range(pairs)]
    else:
        names = [f"draws {2 * i + 1}-{2 * i + 2}" for i in range(pairs)]
    if y is not None:
        names = [f"{name}, class {int(k)}" for name, k in zip(names, y)]
    result = Interpolation(
        method,
        t.float(),
        codes.cpu(),
        images,
        None if y is None else y.cpu(),
        None if ends is None else (ends[0].cpu().float(), ends[1].cpu().float()),
        names,
    )
    return with_figure(result, out, lambda r: draw_interpolation(r, space, seed))


def draw_interpolation(result: Interpolation, space: LatentSpace, seed: int = 0) -> Figure:
    """One path per row, t growing to the right; the test images themselves in the outer columns."""
    pairs, steps = result.images.shape[:2]
    scale = pixel_scale(result.images.shape[-2])
    ends = result.endpoints
    has_ends = ends is not None
    cells = []
    for p in range(pairs):
        row = list(result.images[p])
        if ends is not None:
            row = [ends[0][p], *row, ends[1][p]]
        cells.append(row)
    tiling = tile(cells, col_gaps={0: 3, steps: 3} if has_ends else {})
    figure, ax = tiled_figure(tiling.array, scale, left=1.9, top=0.9)
    t_labels = [f"{float(t):.2g}" for t in result.t]
    ax.set_xticks(tiling.x_centres, ["start", *t_labels, "end"] if has_ends else t_labels, fontsize=8)
    ax.set_xlabel("t (fraction of the path)", fontsize=9)
    ax.set_yticks(tiling.y_centres, result.row_names, fontsize=8)
    what = (
        "between test images (outer columns: the images themselves)"
        if has_ends
        else f"between prior draws (seed {seed})"
    )
    name = "Linear" if result.method == "linear" else "Spherical (slerp)"
    ax.set_title(f"{name} interpolation {what}\n{space_title(space)}", fontsize=10)
    return figure
