"""What medical scanners measure, as linear operators: MRI's undersampled k-space and CT's sinogram.

Both are ``LinearOperator``s (operators.py) with an exact adjoint, so every solver of the recovery
suite runs on them unchanged; unlike the image-domain operators, their measurements are not images.

**MRI, ``KSpaceSampling``** (the ``mri`` task). A scanner measures the image's 2-D Fourier transform
(k-space), and measuring fewer phase-encoding lines makes the scan faster: the *acceleration*.
A(x) = M * F(x) with F the orthonormal 2-D DFT (``torch.fft.fft2(norm="ortho")``, so noise has
the same standard deviation in k-space as in the image) and M a 0/1 k-space mask; the complex
measurement is stored as its real and imaginary parts, shape (N, C, H, W, 2), and unmeasured
positions are zero. A^T(y) = Re(F^H(M * y)). The image "N" is the zero-filled reconstruction,
Re(F^H y) = A^T(y). Masks (``kspace_mask``), one per image from the generator:

- ``cartesian`` (default): whole columns (phase-encoding lines) as fastMRI's ``RandomMaskFunc``
  draws them: a fully sampled centre of 8% of the columns (at least one) plus columns drawn at
  random from the rest, round(W / acceleration) in all, so the acceleration is exact;
- ``radial``: spokes through the centre of k-space at equally spaced angles with a random
  rotation, as many as it takes to cover 1 / acceleration of k-space;
- ``random``: variable-density random points, P(k) proportional to (1 + |k| / k0)^-2 (k0 a tenth
  of the largest |k|), the centre 8% disc always kept, round(H W / acceleration) points in all.

**CT, ``ParallelBeamRadon``** (the ``ct`` task). A scanner measures line integrals of the
attenuation through the body at a set of angles, and fewer views mean a lower dose. A is the
parallel-beam Radon transform at ``views`` angles equally spaced over [0, 180) degrees, exactly as
``skimage.transform.radon(image, theta, circle=False)`` computes it (the image zero-padded to its
diagonal, rotated about the centre pixel with bilinear interpolation, summed along columns), as an
explicit dense matrix: (bins x views, H x W), built once per (image size, views) and cached, so A
and A^T are one matrix product each, on CPU or GPU. Measurements are sinograms (N, C, bins, views)
in skimage's layout; the image "N" is the filtered back-projection (``skimage.transform.iradon``,
ramp filter). At 28x28 there are 40 bins, so 8 views give 320 numbers for 784 pixels.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from genimg.errors import UserError
from genimg.tasks.recover.operators import LinearOperator

MRI_MASKS = ("cartesian", "radial", "random")
CENTRE_FRACTION = 0.08  # of the columns (cartesian) or of the k-space radius (random), always measured


# ---------------------------------------------------------------------------- MRI


class KSpaceSampling(LinearOperator):
    """Orthonormal 2-D DFT then a k-space mask. ``mask`` is (N or 1, 1, H, W) in the DFT's own
    (unshifted) order, shared by the channels."""

    name = "kspace"
    consistency_rounds = 300

    def __init__(self, mask: torch.Tensor) -> None:
        if mask.dim() != 4 or mask.shape[1] != 1:
            raise ValueError(f"a k-space mask must have shape (N, 1, H, W), got {tuple(mask.shape)}")
        self.mask = mask.float()

    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        return self.mask.to(like.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.fft2(x, norm="ortho") * self._mask(x)
        return torch.view_as_real(spectrum)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        spectrum = torch.view_as_complex(y.contiguous()) * self._mask(y)
        return torch.fft.ifft2(spectrum, norm="ortho").real

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        return self.adjoint(y)  # zero-filled inverse FFT (the mask is already applied)

    def on_measured(self, y: torch.Tensor) -> torch.Tensor:
        return y * self._mask(y).unsqueeze(-1)

    def take(self, index: torch.Tensor) -> KSpaceSampling:
        return self if self.mask.shape[0] == 1 else KSpaceSampling(self.mask[index.to(self.mask.device)])

    @property
    def sampled_fraction(self) -> torch.Tensor:
        """Per image, the fraction of k-space measured (1 / the acceleration)."""
        return self.mask.flatten(1).mean(1)


def check_acceleration(acceleration: float) -> float:
    if not (isinstance(acceleration, (int, float)) and math.isfinite(acceleration) and acceleration >= 1):
        raise UserError(
            f"--acceleration is how many times fewer k-space samples than pixels (e.g. 4), got {acceleration}"
        )
    return float(acceleration)


def _centred_frequencies(size: int) -> torch.Tensor:
    """Frequency index of each position of a centred (fftshift-ed) axis: -size//2 .. size - size//2 - 1."""
    return torch.arange(size) - size // 2


def _unshift(mask: torch.Tensor) -> torch.Tensor:
    """A mask drawn in centred coordinates (DC in the middle) in the DFT's own order."""
    return torch.fft.ifftshift(mask, dim=(-2, -1))


def cartesian_mask(
    n: int, height: int, width: int, acceleration: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """fastMRI-style column masks: the centre 8% of columns plus random others, round(W / a) in all."""
    total = max(1, round(width / acceleration))
    centre = min(total, max(1, round(CENTRE_FRACTION * width)))
    first = (width - centre + 1) // 2  # fastMRI's placement of the low frequencies
    centre_columns = torch.arange(first, first + centre)
    others = torch.tensor([c for c in range(width) if not first <= c < first + centre])
    masks = torch.zeros(n, 1, height, width)
    for i in range(n):
        chosen = others[torch.randperm(len(others), generator=generator)[: total - centre]]
        masks[i, :, :, torch.cat([centre_columns, chosen])] = 1
    return _unshift(masks)


def radial_mask(
    n: int, height: int, width: int, acceleration: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Spokes through the k-space centre, equally spaced, randomly rotated, enough to cover 1 / a."""
    target = height * width / acceleration
    radius = max(height, width)
    along = torch.linspace(-radius, radius, 4 * radius + 1, dtype=torch.float64)
    masks = torch.zeros(n, 1, height, width)
    for i in range(n):
        offset = float(torch.rand((), generator=generator, dtype=torch.float64)) * math.pi
        spokes = 1
        while True:
            angles = offset + torch.arange(spokes, dtype=torch.float64) * math.pi / spokes
            r = (along[None] * torch.sin(angles)[:, None]).round().long() + height // 2
            c = (along[None] * torch.cos(angles)[:, None]).round().long() + width // 2
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            mask = torch.zeros(height, width)
            mask[r[inside], c[inside]] = 1
            if mask.sum() >= target or spokes >= 4 * radius:
                break
            spokes += 1
        masks[i, 0] = mask
    return _unshift(masks)


def variable_density_mask(
    n: int, height: int, width: int, acceleration: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random k-space points, denser at the centre: the centre disc (8% of the radius) always,
    the rest drawn without replacement with weight (1 + |k| / k0)^-2, k0 a tenth of the largest
    |k|, round(H W / a) in all."""
    total = max(1, round(height * width / acceleration))
    kr = torch.sqrt(
        _centred_frequencies(height)[:, None].double() ** 2 + _centred_frequencies(width)[None].double() ** 2
    )
    k_max = float(kr.max())
    centre = (kr <= CENTRE_FRACTION * k_max).flatten()
    weights = (1 + kr / (0.1 * k_max)).pow(-2).flatten()
    weights[centre] = 0
    extra = max(0, total - int(centre.sum()))
    masks = torch.zeros(n, height * width)
    masks[:, centre] = 1
    for i in range(n):
        if extra:
            masks[i, torch.multinomial(weights, extra, replacement=False, generator=generator)] = 1
    return _unshift(masks.view(n, 1, height, width))


def kspace_mask(
    kind: str, n: int, height: int, width: int, acceleration: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n, 1, H, W) k-space masks of a kind (``MRI_MASKS``), in the DFT's order."""
    acceleration = check_acceleration(acceleration)
    makers = {"cartesian": cartesian_mask, "radial": radial_mask, "random": variable_density_mask}
    if kind not in makers:
        raise UserError(f"unknown k-space mask '{kind}'; choose one of {', '.join(MRI_MASKS)}")
    return makers[kind](n, height, width, acceleration, generator)


# ---------------------------------------------------------------------------- CT


def view_angles(views: int) -> np.ndarray:
    """``views`` angles in degrees, equally spaced over [0, 180)."""
    return np.arange(views) * 180.0 / views


def padded_size(size: int) -> int:
    """The side of skimage's zero-padded square for a size x size image (``circle=False``)."""
    return size + int(np.ceil(np.sqrt(2) * size - size))


@functools.lru_cache(maxsize=8)
def radon_matrix(size: int, views: int) -> np.ndarray:
    """(padded_size(size) * views, size * size): row (bin * views + view) of the sinogram, as
    ``skimage.transform.radon(image, view_angles(views), circle=False)`` computes it. Its loop
    rotates the padded image with ``warp`` (bilinear, zero outside) and sums each column; here the
    bilinear weights of every output pixel are scattered into the matrix instead."""
    side = padded_size(size)
    pad_before = side // 2 - size // 2
    centre = side // 2
    rows, cols = np.meshgrid(np.arange(side, dtype=np.float64), np.arange(side, dtype=np.float64), indexing="ij")
    matrix = np.zeros((side, views, size * size))
    for v, angle in enumerate(np.deg2rad(view_angles(views))):
        cos_a, sin_a = np.cos(angle), np.sin(angle)
        # skimage's inverse map R: output (col, row) -> input (col, row)
        src_col = cos_a * cols + sin_a * rows - centre * (cos_a + sin_a - 1)
        src_row = -sin_a * cols + cos_a * rows - centre * (cos_a - sin_a - 1)
        r0, c0 = np.floor(src_row), np.floor(src_col)
        fr, fc = src_row - r0, src_col - c0
        for dr, dc, weight in (
            (0, 0, (1 - fr) * (1 - fc)),
            (0, 1, (1 - fr) * fc),
            (1, 0, fr * (1 - fc)),
            (1, 1, fr * fc),
        ):
            r = (r0 + dr).astype(np.int64) - pad_before
            c = (c0 + dc).astype(np.int64) - pad_before
            inside = (r >= 0) & (r < size) & (c >= 0) & (c < size) & (weight > 0)
            bins = np.broadcast_to(np.arange(side), (side, side))  # the output column is the detector bin
            np.add.at(matrix[:, v], (bins[inside], r[inside] * size + c[inside]), weight[inside])
    return matrix.reshape(side * views, size * size)


def check_views(views: int) -> int:
    if isinstance(views, bool) or not isinstance(views, int) or views < 1:
        raise UserError(f"--views is the number of projection angles and must be an integer >= 1, got {views}")
    return views


class ParallelBeamRadon(LinearOperator):
    """Images (N, C, S, S) -> sinograms (N, C, bins, views), bins = ``padded_size(S)``."""

    name = "radon"
    consistency_rounds = 300

    def __init__(self, size: int, views: int) -> None:
        self.size, self.views = size, check_views(views)
        self.bins = padded_size(size)
        self.matrix = torch.from_numpy(radon_matrix(size, views)).float()  # (bins * views, S * S)

    def _matrix(self, like: torch.Tensor) -> torch.Tensor:
        if self.matrix.device != like.device or self.matrix.dtype != like.dtype:
            self.matrix = self.matrix.to(like.device, like.dtype)
        return self.matrix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return (x.reshape(n * c, -1) @ self._matrix(x).T).view(n, c, self.bins, self.views)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        n, c = y.shape[:2]
        return (y.reshape(n * c, -1) @ self._matrix(y)).view(n, c, self.size, self.size)

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        return filtered_back_projection(y, self.size)

    @property
    def measurement_scale(self) -> float:
        return radon_norm(self.size, self.views)


@functools.lru_cache(maxsize=8)
def radon_norm(size: int, views: int) -> float:
    """||A||, the largest singular value of the Radon matrix."""
    return float(np.linalg.norm(radon_matrix(size, views), ord=2))


def filtered_back_projection(sinograms: torch.Tensor, size: int) -> torch.Tensor:
    """skimage's ``iradon`` (ramp filter, linear interpolation) of every (bins, views) sinogram."""
    from skimage.transform import iradon  # imported here: skimage.transform is slow to import

    views = sinograms.shape[-1]
    theta = view_angles(views)
    arrays = sinograms.detach().cpu().double().numpy()
    out = np.stack(
        [
            [iradon(channel, theta, output_size=size, filter_name="ramp", circle=False) for channel in image]
            for image in arrays
        ]
    )
    return torch.from_numpy(out).float().to(sinograms.device)
