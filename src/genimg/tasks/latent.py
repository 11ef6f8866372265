"""Looking inside a trained model: reconstructions, interpolations, the latent manifold,
per-dimension traversals and the encoded test set, each as numbers and as a PNG figure.

Every model is seen through a ``LatentSpace``: codes are (N, D) tensors that the model can
decode, and, where it has an encoder, compute from images. Which space a model has follows
from what it can do, not from its family's name:

==========  ==================================  ===============================  ===========================
space       codes                               encoder                          a model that has it
==========  ==================================  ===============================  ===========================
posterior   the mean of q(z|x)                  ``encode(x, labels)``            VAE
generator   z, the generator's input            none                             DCGAN
ddim noise  x_T of the deterministic DDIM ODE   ``ddim_invert`` (Song et al.     diffusion
            (flattened, C*H*W numbers)          2021, sec. 5.4)
==========  ==================================  ===============================  ===========================

Which views a space serves (``supported_views``):

- ``recon`` needs an encoder: images beside their decoded codes, with per-image MSE and SSIM.
- ``interp`` needs a decoder: between test images (with an encoder) or between prior draws.
- ``manifold`` and ``traverse`` need coordinates that mean something one at a time under an
  N(0, I) prior (a VAE's z, a GAN's z; not the pixels of a diffusion model's x_T). The manifold
  also needs an encoder unless the latent is 2-D.
- ``scatter`` needs an encoder.

Each view is a function that takes the model, returns a small dataclass with the tensors behind
the figure (so a notebook or a test can check them) and, given ``out``, writes the figure
atomically. ``explore(run, ...)`` runs views on a run directory into ``RUN/explore/`` and is
what ``genimg explore`` calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from genimg.data.splits import load_split
from genimg.errors import UserError
from genimg.io import atomic_path, write_json
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model

VIEWS = ("recon", "interp", "manifold", "traverse", "scatter")
METHODS = ("linear", "slerp")
ENCODE_BATCH = 256  # images per encoder call: bounds memory for DDIM inversion of a whole test set


def latent_space(model: GenerativeModel | LatentSpace, ddim_steps: int = 50) -> LatentSpace:
    """The model's latent space (its ``latent`` capability); a space passes through unchanged."""
    if isinstance(model, LatentSpace):
        return model
    model.require("latent", "exploring a model")
    return model.latent_space(steps=ddim_steps)


def supported_views(space: LatentSpace) -> dict[str, str | None]:
    """For each view: None if the space serves it, else why not."""
    family = space.model.family
    reasons: dict[str, str | None] = {view: None for view in VIEWS}
    if not space.can_encode:
        reasons["recon"] = f"reconstructions need an encoder, and a {family} has none"
        reasons["scatter"] = f"the scatter of the encoded test set needs an encoder, and a {family} has none"
    if not space.per_dimension:
        why = f"its {space.name} has no coordinates that mean something one at a time"
        reasons["manifold"] = f"the manifold needs a low-dimensional latent with an N(0, I) prior; {why}"
        reasons["traverse"] = f"traversals vary one latent coordinate at a time; {why}"
    elif space.dim != 2 and not space.can_encode:
        reasons["manifold"] = (f"the manifold of a {space.dim}-D latent is spanned by the principal directions of the "
                               f"encoded test set, and a {family} has no encoder (train it with latent_dim=2 for a manifold)")
    return reasons


def require_view(space: LatentSpace, view: str) -> None:
    if view not in VIEWS:
        raise UserError(f"unknown view '{view}'; choose one of {', '.join(VIEWS)}")
    reason = supported_views(space)[view]
    if reason is not None:
        works = [v for v, r in supported_views(space).items() if r is None]
        raise UserError(f"{view}: {reason}; for this model use {', '.join(works) or 'no view'}")


def _batched(fn: Callable[..., torch.Tensor], images: torch.Tensor, labels: torch.Tensor | None, batch: int = ENCODE_BATCH) -> torch.Tensor:
    chunks = []
    for start in range(0, images.shape[0], batch):
        chunks.append(fn(images[start : start + batch], None if labels is None else labels[start : start + batch]))
    return torch.cat(chunks)


# ---------------------------------------------------------------------------- interpolation paths


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


# ---------------------------------------------------------------------------- results


@dataclass
class Reconstructions:
    originals: torch.Tensor  # (N, C, H, W)
    reconstructions: torch.Tensor  # (N, C, H, W)
    labels: torch.Tensor | None
    mse: torch.Tensor  # (N,) float64, per image
    ssim: torch.Tensor  # (N,) float64, per image (Gaussian window, reflect border; see evaluate.metrics.ssim)
    path: Path | None = None

    def summary(self) -> dict[str, Any]:
        return {"images": int(self.mse.numel()), "mse_mean": float(self.mse.mean()), "ssim_mean": float(self.ssim.mean()),
                "mse": self.mse.tolist(), "ssim": self.ssim.tolist()}


@dataclass
class Interpolation:
    method: str  # linear or slerp
    t: torch.Tensor  # (S,) fractions from 0 to 1
    codes: torch.Tensor  # (P, S, D): the path in latent space
    images: torch.Tensor  # (P, S, C, H, W): the decoded path
    labels: torch.Tensor | None  # (P,) the class each row is decoded with (conditional models)
    endpoints: tuple[torch.Tensor, torch.Tensor] | None  # the test images at both ends, when interpolating between images
    row_names: list[str] = field(default_factory=list)
    path: Path | None = None


@dataclass
class Manifold:
    coords: torch.Tensor  # (n, n, 2): grid coordinates; columns go right along axis 0, rows go up along axis 1
    codes: torch.Tensor  # (n, n, D): the latent code of every cell
    images: torch.Tensor  # (n, n, C, H, W)
    axes: tuple[str, str]  # what the two coordinates are
    basis: str  # "prior quantiles" (2-D latents) or "principal directions"
    path: Path | None = None


@dataclass
class Traversal:
    dims: list[int]  # the coordinate varied in each row
    offsets: torch.Tensor  # (S,) added to that coordinate, in prior standard deviations
    base: torch.Tensor  # (D,) the code traversed around
    codes: torch.Tensor  # (R, S, D)
    images: torch.Tensor  # (R, S, C, H, W)
    activity: torch.Tensor | None  # (D,) variance of the codes over the test set per coordinate (Burda et al.'s active units)
    source: str  # what the base code is: a test image or a prior draw
    source_image: torch.Tensor | None = None
    path: Path | None = None


@dataclass
class Scatter:
    codes: torch.Tensor  # (N, D) encoded test set
    labels: torch.Tensor  # (N,)
    embeddings: dict[str, np.ndarray]  # panel name -> (N, 2): "latent" (2-D codes) or "PCA" and "t-SNE"
    axis_labels: dict[str, tuple[str, str]]
    path: Path | None = None


# ---------------------------------------------------------------------------- the views


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
    from genimg.evaluate.metrics.mse import mse
    from genimg.evaluate.metrics.ssim import ssim

    space = latent_space(model, ddim_steps)
    require_view(space, "recon")
    _check_images(images, space)
    y = space.labels_for(labels, images.shape[0])
    recon = _batched(space.reconstruct, images, y).float().clamp(0, 1)
    originals = images.to(recon.device).float()
    result = Reconstructions(originals.cpu(), recon.cpu(), None if labels is None else torch.as_tensor(labels).cpu(),
                             mse(recon, originals).per_image, ssim(recon, originals).per_image)
    if out is not None:
        result.path = Path(out)
        _draw_reconstructions(result, space, per_row, result.path)
    return result


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
    if (start is None) != (end is None):
        raise UserError("give both start and end images, or neither (then the ends are prior draws from the seed)")
    if start is not None:
        if not space.can_encode:
            raise UserError(f"interpolating between images needs an encoder, and a {space.model.family} has none; "
                            "interpolate between seeds instead (--between seeds)")
        _check_images(start, space)
        _check_images(end, space)
        if start.shape != end.shape:
            raise UserError(f"start and end must hold the same number of images, got {tuple(start.shape)} and {tuple(end.shape)}")
        pairs = start.shape[0]
    elif pairs < 1:
        raise UserError(f"pairs must be at least 1, got {pairs}")
    if space.conditional and labels is None:
        if start is not None:
            raise UserError("this model is class-conditional: pass the class of each start/end pair as labels")
        labels = torch.randint(0, space.model.spec.num_classes, (pairs,), generator=generator)
    y = space.labels_for(labels, pairs)
    if start is not None:
        a = _batched(space.encode, start, y)
        b = _batched(space.encode, end, y)
    else:
        a = space.prior(pairs, generator)
        b = space.prior(pairs, generator)
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    codes = PATHS[method](a, b, t)  # (P, S, D)
    y_flat = None if y is None else y.repeat_interleave(steps)
    images = _batched(space.decode, codes.reshape(pairs * steps, -1), y_flat).float()
    images = images.reshape(pairs, steps, *images.shape[1:]).cpu()
    if start is not None:
        names = [f"test pair {i + 1}" for i in range(pairs)]
    else:
        names = [f"draws {2 * i + 1}-{2 * i + 2}" for i in range(pairs)]
    if y is not None:
        names = [f"{name}, class {int(k)}" for name, k in zip(names, y)]
    result = Interpolation(method, t.float(), codes.cpu(), images, None if y is None else y.cpu(),
                           None if start is None else (start.cpu().float(), end.cpu().float()), names)
    if out is not None:
        result.path = Path(out)
        _draw_interpolation(result, space, seed, result.path)
    return result


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
            raise UserError(f"the manifold of a {space.dim}-D latent needs test images to find its principal directions")
        if span <= 0:
            raise UserError(f"span must be positive, got {span}")
        encoded = _batched(space.encode, _checked(images, space), space.labels_for(labels, images.shape[0])).double().cpu()
        mean, directions, stds, ratios = _principal_directions(encoded, 2)
        axis = torch.linspace(-span, span, n, dtype=torch.float64)
        coords = _grid(axis, axis)  # in standard deviations along each direction
        codes = mean + (coords[..., :1] * stds[0]) * directions[0] + (coords[..., 1:] * stds[1]) * directions[1]
        axes = (f"PC1 of the codes, in std ({ratios[0]:.0%} of variance)", f"PC2 of the codes, in std ({ratios[1]:.0%} of variance)")
        basis = "principal directions"
    if label is not None and not space.conditional:
        raise UserError(f"this {space.model.family} is not class-conditional; leave out the label")
    y = space.labels_for(0 if label is None else label, n * n) if space.conditional else None
    flat = codes.reshape(n * n, -1).float()
    decoded = _batched(space.decode, flat, y).float().cpu()
    result = Manifold(coords.float(), codes.float(), decoded.reshape(n, n, *decoded.shape[1:]), axes, basis)
    if out is not None:
        result.path = Path(out)
        class_note = f", class {int(y[0])}" if y is not None else ""
        _draw_manifold(result, space, class_note, result.path)
    return result


@torch.inference_mode()
def traversal(
    model: GenerativeModel | LatentSpace,
    *,
    image: torch.Tensor | None = None,
    label: int | None = None,
    dims: int | Sequence[int] | None = None,
    steps: int = 9,
    span: float = 2.0,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    seed: int = 0,
    out: str | Path | None = None,
) -> Traversal:
    """Vary one coordinate at a time around a code: rows are coordinates, columns add
    ``steps`` offsets from -``span`` to +``span`` prior standard deviations to that coordinate.

    The code is that of ``image`` (C, H, W) for a model with an encoder, else a prior draw from
    ``seed``. ``dims`` is a list of coordinates, or how many to show; with test ``images`` an
    encoder ranks the coordinates by the variance of their codes over the test set (Burda et
    al.'s activity: near 0 for a coordinate the encoder ignores), most active first.
    """
    space = latent_space(model)
    require_view(space, "traverse")
    if steps < 2:
        raise UserError(f"a traversal needs at least 2 steps, got {steps}")
    if span <= 0:
        raise UserError(f"span must be positive, got {span}")
    if label is not None and not space.conditional:
        raise UserError(f"this {space.model.family} is not class-conditional; leave out the label")
    activity = None
    if images is not None and space.can_encode:
        encoded = _batched(space.encode, _checked(images, space), space.labels_for(labels, images.shape[0]))
        activity = encoded.double().var(0, unbiased=False).cpu()
    if dims is None or isinstance(dims, int):
        count = min(space.dim, 10) if dims is None else dims
        if not 1 <= count <= space.dim:
            raise UserError(f"the number of coordinates to traverse must lie in 1..{space.dim}, got {count}")
        order = torch.argsort(activity, descending=True) if activity is not None else torch.arange(space.dim)
        dim_list = [int(d) for d in order[:count]]
    else:
        dim_list = [int(d) for d in dims]
        bad = [d for d in dim_list if not 0 <= d < space.dim]
        if bad or not dim_list:
            raise UserError(f"coordinates to traverse must lie in 0..{space.dim - 1}, got {dim_list}")
    generator = torch.Generator().manual_seed(seed)
    y1 = None
    if space.conditional:
        y1 = space.labels_for(label if label is not None else int(torch.randint(0, space.model.spec.num_classes, (1,), generator=generator)), 1)
    if image is not None and space.can_encode:
        _check_images(image[None], space)
        base = space.encode(image[None], y1)[0].cpu()
        source = "test image"
    elif image is not None:
        raise UserError(f"a {space.model.family} has no encoder to find a test image's code; traverse around a seed instead")
    else:
        base = space.prior(1, generator)[0].cpu()
        source = f"prior draw (seed {seed})"
    offsets = torch.linspace(-span, span, steps)
    codes = base.repeat(len(dim_list), steps, 1)
    for row, d in enumerate(dim_list):
        codes[row, :, d] = base[d] + offsets
    y = None if y1 is None else y1.expand(len(dim_list) * steps)
    decoded = _batched(space.decode, codes.reshape(-1, space.dim), y).float().cpu()
    result = Traversal(dim_list, offsets, base, codes, decoded.reshape(len(dim_list), steps, *decoded.shape[1:]),
                       activity, source, None if image is None else image.cpu().float())
    if out is not None:
        result.path = Path(out)
        class_note = f", class {int(y1[0])}" if y1 is not None else ""
        _draw_traversal(result, space, class_note, result.path)
    return result


@torch.inference_mode()
def scatter(
    model: GenerativeModel | LatentSpace,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    out: str | Path | None = None,
    ddim_steps: int = 50,
) -> Scatter:
    """Encode ``images`` and lay the codes out in 2-D, coloured by ``labels``: the codes
    themselves for a 2-D latent; otherwise their PCA projection and a t-SNE embedding
    (scikit-learn, seeded by ``seed``)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    space = latent_space(model, ddim_steps)
    require_view(space, "scatter")
    _check_images(images, space)
    labels = torch.as_tensor(labels).long().cpu()
    if labels.shape != (images.shape[0],):
        raise UserError(f"scatter needs one label per image, got {tuple(labels.shape)} for {images.shape[0]} images")
    codes = _batched(space.encode, images, space.labels_for(labels, images.shape[0])).float().cpu()
    embeddings: dict[str, np.ndarray] = {}
    axis_labels: dict[str, tuple[str, str]] = {}
    if codes.shape[1] == 2:
        embeddings["latent"] = codes.numpy().copy()
        axis_labels["latent"] = ("z1", "z2")
    else:
        if codes.shape[0] < 5:
            raise UserError(f"PCA and t-SNE of the codes need at least 5 images, got {codes.shape[0]}")
        pca = PCA(n_components=2, random_state=seed).fit(codes.numpy())
        embeddings["PCA"] = pca.transform(codes.numpy())
        ratio = pca.explained_variance_ratio_
        axis_labels["PCA"] = (f"PC1 ({ratio[0]:.0%} of variance)", f"PC2 ({ratio[1]:.0%} of variance)")
        perplexity = min(30.0, (codes.shape[0] - 1) / 3)
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
        embeddings["t-SNE"] = tsne.fit_transform(codes.numpy())
        axis_labels["t-SNE"] = ("t-SNE 1", f"t-SNE 2 (perplexity {perplexity:.0f})")
    result = Scatter(codes, labels, embeddings, axis_labels)
    if out is not None:
        result.path = Path(out)
        _draw_scatter(result, space, class_names, result.path)
    return result


# ---------------------------------------------------------------------------- helpers


def _check_images(images: torch.Tensor, space: LatentSpace) -> None:
    expected = tuple(space.model.spec.image_shape)
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != expected:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise UserError(f"expected images of shape (N, {', '.join(map(str, expected))}) in [0, 1], got {shape}")
    if images.shape[0] == 0:
        raise UserError("no images given; pass at least one")


def _checked(images: torch.Tensor, space: LatentSpace) -> torch.Tensor:
    _check_images(images, space)
    return images


def _grid(x_axis: torch.Tensor, y_axis: torch.Tensor) -> torch.Tensor:
    """(n, n, 2) coordinates: column c has x_axis[c]; row r has y_axis[n - 1 - r] (y grows upwards)."""
    n = x_axis.numel()
    xs = x_axis[None, :].expand(n, n)
    ys = y_axis.flip(0)[:, None].expand(n, n)
    return torch.stack([xs, ys], -1)


def _principal_directions(codes: torch.Tensor, k: int) -> tuple[torch.Tensor, list[torch.Tensor], list[float], list[float]]:
    """Mean, the k leading principal directions (unit vectors), their standard deviations and
    shares of the total variance: scikit-learn's PCA, as in the scatter's PCA panel."""
    from sklearn.decomposition import PCA

    if codes.shape[0] < 2:
        raise UserError("principal directions need at least 2 encoded images")
    pca = PCA(n_components=k).fit(codes.double().numpy())
    mean = torch.from_numpy(pca.mean_)
    directions = [torch.from_numpy(pca.components_[i]) for i in range(k)]
    stds = [float(np.sqrt(pca.explained_variance_[i])) for i in range(k)]
    return mean, directions, stds, [float(r) for r in pca.explained_variance_ratio_[:k]]


# ---------------------------------------------------------------------------- figures
# One image per cell, tiled into one array and shown with imshow(interpolation="nearest") at an
# integer number of screen pixels per image pixel, so 8x8 digits stay crisp and legible.

DPI = 100
GAP = 1  # image pixels between cells


def _pixel_scale(height: int) -> int:
    """Screen pixels per image pixel: an 8x8 digit becomes 80x80, a 28x28 image 56x56."""
    return max(2, 80 // height)


def _to_hwc(image: torch.Tensor) -> np.ndarray:
    array = image.detach().float().cpu().clamp(0, 1).numpy()
    return array.transpose(1, 2, 0)


def _tile(cells: list[list[torch.Tensor | None]], col_gaps: dict[int, int] | None = None,
          row_gaps: dict[int, int] | None = None, fill: float = 1.0):
    """Tile a table of CHW images (None = empty cell) into one HWC array.

    ``col_gaps``/``row_gaps`` add extra image pixels after a column/row index. Returns the array,
    the x and y centres of the columns and rows (in array pixels) and each row's bottom edge."""
    col_gaps, row_gaps = col_gaps or {}, row_gaps or {}
    sample = next(c for row in cells for c in row if c is not None)
    ch, h, w = sample.shape
    rows, cols = len(cells), max(len(r) for r in cells)
    lefts, x = [], GAP
    for c in range(cols):
        lefts.append(x)
        x += w + GAP + col_gaps.get(c, 0)
    tops, y = [], GAP
    for r in range(rows):
        tops.append(y)
        y += h + GAP + row_gaps.get(r, 0)
    array = np.full((y, x, ch), fill, dtype=np.float32)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            if cell is not None:
                array[tops[r] : tops[r] + h, lefts[c] : lefts[c] + w] = _to_hwc(cell)
    x_centres = [left + (w - 1) / 2 for left in lefts]
    y_centres = [top + (h - 1) / 2 for top in tops]
    bottoms = [top + h - 0.5 for top in tops]
    return array, x_centres, y_centres, bottoms


def _figure(array: np.ndarray, scale: int, left: float = 1.4, right: float = 0.2, bottom: float = 0.7, top: float = 0.7):
    """A figure whose axes show ``array`` at exactly ``scale`` screen pixels per array pixel,
    with margins (inches) for tick labels and the title."""
    from matplotlib.figure import Figure

    width_in = array.shape[1] * scale / DPI
    height_in = array.shape[0] * scale / DPI
    fig_w, fig_h = width_in + left + right, height_in + bottom + top
    fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
    ax = fig.add_axes((left / fig_w, bottom / fig_h, width_in / fig_w, height_in / fig_h))
    _show(ax, array)
    return fig, ax


def _show(ax, array: np.ndarray) -> None:
    if array.shape[2] == 1:
        ax.imshow(array[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(array, interpolation="nearest")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.15)


def _title(space: LatentSpace) -> str:
    return f"{space.model.family}, {space.dim}-D {space.name}"


def _draw_reconstructions(result: Reconstructions, space: LatentSpace, per_row: int, path: Path) -> None:
    n = result.originals.shape[0]
    h = result.originals.shape[-2]
    scale = _pixel_scale(h)
    text_gap = math.ceil(34 / scale)  # room for two lines of scores under each reconstruction
    cells, names, score_rows = [], [], []
    for start in range(0, n, per_row):
        block = range(start, min(start + per_row, n))
        cells.append([result.originals[i] for i in block])
        cells.append([result.reconstructions[i] for i in block])
        names += ["original", "reconstruction"]
        score_rows.append(list(block))
    gaps = {2 * b + 1: text_gap for b in range(len(score_rows))}
    array, xs, ys, bottoms = _tile(cells, row_gaps=gaps)
    fig, ax = _figure(array, scale, top=0.9)
    ax.set_yticks(ys, names, fontsize=9)
    ax.set_xticks([])
    for b, block in enumerate(score_rows):
        for c, i in enumerate(block):
            ax.text(xs[c], bottoms[2 * b + 1] + 0.3, f"MSE {float(result.mse[i]):.4f}\nSSIM {float(result.ssim[i]):.3f}",
                    ha="center", va="top", fontsize=7, linespacing=1.1)
    ax.set_title(f"Reconstructions ({_title(space)})\nmean MSE {float(result.mse.mean()):.4f}, "
                 f"mean SSIM {float(result.ssim.mean()):.3f} over {n} test images", fontsize=10)
    _save(fig, path)


def _draw_interpolation(result: Interpolation, space: LatentSpace, seed: int, path: Path) -> None:
    pairs, steps = result.images.shape[:2]
    scale = _pixel_scale(result.images.shape[-2])
    cells = []
    for p in range(pairs):
        row = list(result.images[p])
        if result.endpoints is not None:
            row = [result.endpoints[0][p], *row, result.endpoints[1][p]]
        cells.append(row)
    has_ends = result.endpoints is not None
    col_gaps = {0: 3, steps: 3} if has_ends else {}
    array, xs, ys, _ = _tile(cells, col_gaps=col_gaps)
    fig, ax = _figure(array, scale, left=1.9, top=0.9)
    t_labels = [f"{float(t):.2g}" for t in result.t]
    ax.set_xticks(xs, ["start"] + t_labels + ["end"] if has_ends else t_labels, fontsize=8)
    ax.set_xlabel("t (fraction of the path)", fontsize=9)
    ax.set_yticks(ys, result.row_names, fontsize=8)
    what = "between test images (outer columns: the images themselves)" if has_ends else f"between prior draws (seed {seed})"
    name = "Linear" if result.method == "linear" else "Spherical (slerp)"
    ax.set_title(f"{name} interpolation {what}\n{_title(space)}", fontsize=10)
    _save(fig, path)


def _tick_subset(count: int, most: int = 15) -> list[int]:
    stride = max(1, math.ceil(count / most))
    return list(range(0, count, stride))


def _number(value: torch.Tensor | float) -> str:
    return f"{round(float(value), 2) + 0.0:.2f}"  # + 0.0 turns -0.00 into 0.00


def _draw_manifold(result: Manifold, space: LatentSpace, class_note: str, path: Path) -> None:
    n = result.images.shape[0]
    scale = _pixel_scale(result.images.shape[-2])
    cells = [[result.images[r, c] for c in range(n)] for r in range(n)]
    array, xs, ys, _ = _tile(cells)
    fig, ax = _figure(array, scale, left=1.0, bottom=0.9, top=0.8)
    cols = _tick_subset(n)
    ax.set_xticks([xs[c] for c in cols], [_number(result.coords[0, c, 0]) for c in cols], fontsize=8, rotation=90)
    ax.set_yticks([ys[r] for r in cols], [_number(result.coords[r, 0, 1]) for r in cols], fontsize=8)
    ax.set_xlabel(result.axes[0], fontsize=9)
    ax.set_ylabel(result.axes[1], fontsize=9)
    how = ("decoded on the prior's quantiles" if result.basis == "prior quantiles"
           else "decoded along the two leading principal directions of the encoded test set")
    ax.set_title(f"Latent manifold, {how}\n{_title(space)}{class_note}", fontsize=10)
    _save(fig, path)


def _draw_traversal(result: Traversal, space: LatentSpace, class_note: str, path: Path) -> None:
    rows, steps = result.images.shape[:2]
    scale = _pixel_scale(result.images.shape[-2])
    has_source = result.source_image is not None
    cells = []
    for r in range(rows):
        row = list(result.images[r])
        if has_source:
            row = [result.source_image if r == 0 else None, *row]
        cells.append(row)
    array, xs, ys, _ = _tile(cells, col_gaps={0: 3} if has_source else None)
    fig, ax = _figure(array, scale, left=1.9, top=0.9, bottom=0.8)
    offsets = [f"{float(o):+.2g}" for o in result.offsets]
    ax.set_xticks(xs, (["input"] if has_source else []) + offsets, fontsize=8)
    ax.set_xlabel("offset added to the row's coordinate (prior std)", fontsize=9)
    names = []
    for d in result.dims:
        names.append(f"z{d + 1}" + (f" (var {float(result.activity[d]):.2f})" if result.activity is not None else ""))
    ax.set_yticks(ys, names, fontsize=8)
    note = "\nvar: variance of the coordinate's code over the test set (near 0: a coordinate the encoder ignores)" if result.activity is not None else ""
    ax.set_title(f"Traversals around a {result.source}: one coordinate per row\n{_title(space)}{class_note}{note}", fontsize=10)
    _save(fig, path)


def _draw_scatter(result: Scatter, space: LatentSpace, class_names: Sequence[str] | None, path: Path) -> None:
    import matplotlib
    from matplotlib.figure import Figure

    panels = list(result.embeddings)
    fig = Figure(figsize=(5.2 * len(panels) + 1.2, 5.0), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    classes = sorted(int(k) for k in result.labels.unique())
    cmap = matplotlib.colormaps["tab10" if max(classes, default=0) < 10 else "tab20"]
    labels = result.labels.numpy()
    for ax, panel in zip(axes, panels):
        xy = result.embeddings[panel]
        for k in classes:
            mask = labels == k
            name = class_names[k] if class_names is not None and k < len(class_names) else str(k)
            ax.scatter(xy[mask, 0], xy[mask, 1], s=10, color=cmap(k % cmap.N), label=name, alpha=0.8, linewidths=0)
        ax.set_xlabel(result.axis_labels[panel][0], fontsize=9)
        ax.set_ylabel(result.axis_labels[panel][1], fontsize=9)
        ax.set_title(panel if panel != "latent" else "codes", fontsize=10)
    handles, names = axes[-1].get_legend_handles_labels()
    fig.legend(handles, names, title="label", loc="outside right center", markerscale=2, fontsize=9)
    fig.suptitle(f"Encoded test set ({len(labels)} images), {_title(space)}", fontsize=11)
    _save(fig, path)


# ---------------------------------------------------------------------------- a run directory


@dataclass
class ExploreOptions:
    n: int | None = None  # recon: images; interp: pairs; manifold: grid side; traverse: coordinates; scatter: test images
    steps: int | None = None  # interp: points on each path (10); traverse: offsets per coordinate (9)
    method: str = "both"  # interp: linear, slerp or both
    seed: int = 0
    label: int | None = None  # class for conditional models (manifold, traverse, interp between draws)
    index: int = 0  # traverse: the test image whose code is traversed
    between: str = "auto"  # interp: images, seeds, or auto (images when the model has an encoder)
    ddim_steps: int = 50  # diffusion: steps of the DDIM encoder and decoder


def explore(run: str | Path, what: str | Sequence[str] = "all", options: ExploreOptions | None = None,
            out: str | Path | None = None, ema: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run views on a run directory's kept model and its test split, writing PNGs into
    ``out`` (default RUN/explore/). ``what`` is a view, a list of views or "all" (every view the
    model serves; the others are skipped with a note). Returns {view: result}."""
    options = options or ExploreOptions()
    run_dir = RunDir.open(run)
    config = run_dir.config()
    model = load_model(run_dir.path, ema=ema)
    space = latent_space(model, options.ddim_steps)
    reasons = supported_views(space)
    views = [what] if isinstance(what, str) else list(what)
    if "all" in views:
        for view in VIEWS:
            if reasons[view] is not None:
                log(f"skipping {view}: {reasons[view]}")
        views = [v for v in VIEWS if reasons[v] is None]
    else:
        for view in views:
            require_view(space, view)
    if options.method not in (*METHODS, "both"):
        raise UserError(f"--method must be linear, slerp or both, got '{options.method}'")
    if options.between not in ("auto", "images", "seeds"):
        raise UserError(f"--between must be images, seeds or auto, got '{options.between}'")
    if options.n is not None and options.n < 1:
        raise UserError(f"--n must be at least 1, got {options.n}")
    out_dir = Path(out) if out is not None else run_dir.path / "explore"

    test_cache: list = []

    def test_split():
        if not test_cache:
            test_cache.append(load_split(config.data, "test"))
        return test_cache[0]

    def pick(count: int) -> torch.Tensor:
        """``count`` distinct test indices drawn with the seed."""
        total = len(test_split())
        generator = torch.Generator().manual_seed(options.seed)
        return torch.randperm(total, generator=generator)[: min(count, total)]

    results: dict[str, Any] = {}
    for view in views:
        if view == "recon":
            test = test_split()
            idx = pick(options.n or 16)
            result = reconstructions(space, test.images[idx], test.labels[idx], out=out_dir / "recon.png")
            write_json(out_dir / "recon.json", result.summary())
            results[view] = result
            log(f"recon: mean MSE {float(result.mse.mean()):.4f}, mean SSIM {float(result.ssim.mean()):.3f} -> {result.path}")
        elif view == "interp":
            between = options.between
            if between == "auto":
                between = "images" if space.can_encode else "seeds"
            kwargs: dict[str, Any] = {}
            if between == "images":
                kwargs = _image_pairs(test_split(), options.n or 6, options.seed, space.conditional)
            else:
                kwargs = {"pairs": options.n or 6, "labels": options.label}
            methods = METHODS if options.method == "both" else (options.method,)
            for method in methods:
                result = interpolation(space, steps=options.steps or 10, method=method, seed=options.seed,
                                       out=out_dir / f"interp_{method}.png", ddim_steps=options.ddim_steps, **kwargs)
                results[f"interp_{method}"] = result
                log(f"interp ({method}, between {between}) -> {result.path}")
        elif view == "manifold":
            test = test_split() if space.dim != 2 else None
            result = manifold(space, n=options.n or 15, images=None if test is None else test.images,
                              labels=None if test is None else test.labels, label=options.label, out=out_dir / "manifold.png")
            results[view] = result
            log(f"manifold ({result.basis}, {result.images.shape[0]}x{result.images.shape[1]}) -> {result.path}")
        elif view == "traverse":
            image = label = images = labels = None
            if space.can_encode:
                test = test_split()
                if not 0 <= options.index < len(test):
                    raise UserError(f"--index must lie in 0..{len(test) - 1} (a test image), got {options.index}")
                image, label = test.images[options.index], int(test.labels[options.index])
                images, labels = test.images, test.labels
                if options.label is not None and options.label != label:
                    raise UserError(f"test image {options.index} has label {label}; drop --label or pick an image of that class")
            else:
                label = options.label
            dims = None if options.n is None else min(options.n, space.dim)  # --n is shared by the views: cap it here
            result = traversal(space, image=image, label=label if space.conditional else None, dims=dims,
                               steps=options.steps or 9, images=images, labels=labels, seed=options.seed,
                               out=out_dir / "traverse.png")
            results[view] = result
            log(f"traverse ({len(result.dims)} coordinates around a {result.source}) -> {result.path}")
        elif view == "scatter":
            test = test_split()
            idx = pick(options.n) if options.n else torch.arange(len(test))
            result = scatter(space, test.images[idx], test.labels[idx], seed=options.seed, class_names=test.class_names,
                             out=out_dir / "scatter.png", ddim_steps=options.ddim_steps)
            results[view] = result
            log(f"scatter ({', '.join(result.embeddings)} of {len(idx)} test images) -> {result.path}")
    return results


def _image_pairs(test, pairs: int, seed: int, same_class: bool) -> dict[str, torch.Tensor]:
    """Start and end test images for interpolation, drawn with the seed. A conditional model
    decodes a row with one label, so both ends of each row are then of one class."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(test), generator=generator)
    if len(test) < 2:
        raise UserError("interpolating between test images needs at least 2 of them")
    starts, ends = [], []
    if not same_class:
        pairs = min(pairs, len(test) // 2)
        starts, ends = order[:pairs].tolist(), order[pairs : 2 * pairs].tolist()
    else:
        for i in order.tolist():
            partners = (test.labels == test.labels[i]).nonzero().flatten()
            partners = partners[partners != i]
            if len(partners):
                starts.append(i)
                ends.append(int(partners[torch.randint(len(partners), (1,), generator=generator)]))
            if len(starts) == pairs:
                break
        if not starts:
            raise UserError("no two test images share a class; interpolate between seeds instead (--between seeds)")
    s, e = torch.tensor(starts), torch.tensor(ends)
    out = {"start": test.images[s], "end": test.images[e]}
    if same_class:
        out["labels"] = test.labels[s]
    return out


# ---------------------------------------------------------------------------- command line
