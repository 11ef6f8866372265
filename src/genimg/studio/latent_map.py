"""The latent map of the Explore page: a plane through the latent space, and the test set on it.

A point (u, v) of the map stands for the code ``origin + u * axes[0] + v * axes[1]``.

- A 2-D latent with an encoder: the plane is the latent itself, and every test image sits at
  its code (so a test image's point decodes to its reconstruction).
- A higher-dimensional latent with an encoder: the plane through the mean of the encoded test
  set along its two principal directions (scikit-learn's PCA, as ``genimg explore``'s scatter
  and manifold), each test image at its projection.
- No encoder (a generator's z): the plane through a prior draw along the first two
  coordinates when they mean something one at a time, else along two random orthonormal
  directions scaled to the prior's typical spread; no test points.

Maps are computed once per (run, DDIM steps) and kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA

from genimg.models.latent_space import LatentSpace
from genimg.studio.workspace import StudioRun
from genimg.tasks.explore.space import in_batches, latent_space

MAP_POINTS = 1000  # test images on the map of a cheap encoder
MAP_POINTS_ODE = 200  # ... of a DDIM inversion, which runs the network twice per step and image
PRIOR_EXTENT = 3.0  # a prior plane spans +-3 standard deviations
PCA_EXTENT = 3.5  # a PCA plane spans +-3.5 standard deviations of the projections
SEED = 0


@dataclass
class LatentMap:
    space: LatentSpace
    origin: torch.Tensor  # (D,)
    axes: torch.Tensor  # (2, D)
    extent: tuple[float, float, float, float]  # u_min, u_max, v_min, v_max
    axis_names: tuple[str, str]
    basis: str  # latent, principal directions, prior
    xy: np.ndarray  # (N, 2) test points on the plane (N = 0 without an encoder)
    labels: list[int]
    indices: list[int]  # into the test split
    codes: torch.Tensor | None  # (N, D) the encoded test images
    activity: list[float] | None  # (D,) variance of each coordinate over the test set

    def code_at(self, u: float, v: float) -> torch.Tensor:
        return (self.origin + u * self.axes[0] + v * self.axes[1]).float()

    def to_json(self, class_names: list[str]) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "space": self.space.name,
            "dim": self.space.dim,
            "axis_names": list(self.axis_names),
            "extent": list(self.extent),
            "points": [[round(float(u), 5), round(float(v), 5)] for u, v in self.xy],
            "labels": self.labels,
            "indices": self.indices,
            "class_names": class_names,
            "activity": self.activity,
        }


def map_points(run: StudioRun) -> int:
    """How many test images to encode: fewer through a denoiser's DDIM inversion, which costs a
    network pass per step and image where an encoder costs one pass in all."""
    return MAP_POINTS_ODE if run.model.has("denoiser") else MAP_POINTS


@torch.inference_mode()
def compute_map(run: StudioRun, ddim_steps: int) -> LatentMap:
    space = latent_space(run.model, ddim_steps)
    if space.can_encode:
        return _encoded_map(run, space)
    return _prior_map(space)


def _encoded_map(run: StudioRun, space: LatentSpace) -> LatentMap:
    idx = run.picker.pick(map_points(run))
    images, labels = run.test.images[idx], run.test.labels[idx]
    codes = in_batches(space.encode, images, space.labels_for(labels, len(idx))).float().cpu()
    activity = [round(float(a), 5) for a in codes.double().var(0, unbiased=False)]
    if space.dim == 2:
        origin, axes = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
        xy = codes.numpy().astype(np.float64)
        names, basis = ("z1", "z2"), "latent"
    else:
        pca = PCA(n_components=2, random_state=SEED).fit(codes.double().numpy())
        origin = torch.from_numpy(pca.mean_)
        axes = torch.from_numpy(pca.components_)
        xy = pca.transform(codes.double().numpy())
        ratio = pca.explained_variance_ratio_
        names = (f"PC1 ({ratio[0]:.0%} of variance)", f"PC2 ({ratio[1]:.0%} of variance)")
        basis = "principal directions"
    extent = _extent(xy)
    return LatentMap(space, origin, axes, extent, names, basis, xy, labels.tolist(), idx.tolist(), codes, activity)


def _prior_map(space: LatentSpace) -> LatentMap:
    generator = torch.Generator().manual_seed(SEED)
    origin = space.prior(1, generator)[0].double().cpu()
    if space.dim == 2:
        origin = torch.zeros(2, dtype=torch.float64)
    if space.per_dimension or space.dim == 2:
        axes = torch.eye(space.dim, dtype=torch.float64)[:2]
        names = ("z1", "z2")
    else:
        # Two random orthonormal directions; a step of 1 along one moves the code by one prior std.
        q, _ = torch.linalg.qr(torch.randn(space.dim, 2, generator=generator, dtype=torch.float64))
        axes = q.T.contiguous()
        names = ("direction 1", "direction 2")
    half = PRIOR_EXTENT
    return LatentMap(
        space, origin, axes, (-half, half, -half, half), names, "prior", np.zeros((0, 2)), [], [], None, None
    )


def _extent(xy: np.ndarray) -> tuple[float, float, float, float]:
    """A square view around the points: +-3.5 of their larger standard deviation about their centre."""
    if len(xy) < 2:
        return (-PRIOR_EXTENT, PRIOR_EXTENT, -PRIOR_EXTENT, PRIOR_EXTENT)
    centre = xy.mean(0)
    half = PCA_EXTENT * float(xy.std(0).max()) or 1.0
    lo = np.minimum(xy.min(0), centre - half)
    hi = np.maximum(xy.max(0), centre + half)
    span = max(float(hi[0] - lo[0]), float(hi[1] - lo[1]))
    mid = (lo + hi) / 2
    if not math.isfinite(span) or span <= 0:
        span = 2 * PRIOR_EXTENT
    return (
        float(mid[0] - span / 2),
        float(mid[0] + span / 2),
        float(mid[1] - span / 2),
        float(mid[1] + span / 2),
    )
