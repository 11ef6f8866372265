"""The degradation operators of recovery (inverse problems): y = A(x) + sigma * n, with A linear and n ~ N(0, I).

Every operator is a ``LinearOperator`` with a forward ``A(x)`` and its exact adjoint ``A^T(y)``
(tests check <A x, y> = <x, A^T y>). Images are float32 in [0, 1], NCHW.

- ``Identity``: denoising (all the damage is the noise).
- ``Mask``: inpainting. Keeps the pixels where the mask is 1 (in every channel) and zeroes
  the rest; A is a diagonal projection, so A^T = A. Masks come from ``random_mask`` (a given
  fraction of pixels missing, exactly, per image), ``box_mask`` (a centre square) or
  ``half_mask`` (the lower half missing); a user's PNG mask is read by the run (``load_mask``).
- ``AveragePool``: super-resolution. Each f x f block becomes its mean; A^T spreads a value
  back over its block divided by f^2.
- ``GaussianBlur``: deblurring. A "same"-size convolution with zero padding (the digits'
  background is 0, so the border is honest), whose adjoint is the transposed convolution.
- ``Greyscale``: colorization. ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B (what Pillow's
  "L" conversion computes).

The scanners' operators, MRI's k-space sampling and CT's Radon transform, live in
scanner_operators.py. ``regularised_least_squares`` (below) solves the normal equations of any
operator, the data-consistency step of the solvers that need one.

Adding an operator: subclass ``LinearOperator`` here with ``forward``, ``adjoint`` and
``to_image`` (and ``take`` if it differs per image, as a mask does); add it to the adjoint test
(``test_adjoint_identity`` in tests/test_recover.py); give it a task in ``TASKS`` and
``make_degradation`` (damage.py). The solvers need nothing more: they only call A and A^T.

Noise: the measurement ``y`` is *not* clipped to [0, 1]. The solvers' Gaussian data term is
then the exact likelihood, and a noisy image is exactly a draw of the diffusion forward
process at a matching level. What is shown and scored as the degraded image ("N") is
``Degradation.observed_image(y)``: y mapped back to an image of the original's shape (the
zero-filled masked image, the nearest-upsampled low-resolution image, the grey image in every
channel) and clipped to [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from genimg.errors import UserError
from genimg.rng import gaussian_noise

# ITU-R BT.601 luma weights, as Pillow's convert("L") uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


class LinearOperator:
    """A linear map A from images (N, C, H, W) to measurements, with its adjoint."""

    name = "linear"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        """The measurement shown as an image of the original's shape. For masks, pooling and
        greyscale it is a right inverse (A(image) = y); for blur it is the blurred image itself."""
        raise NotImplementedError

    def take(self, index: torch.Tensor) -> LinearOperator:
        """The operator for the images ``index`` of the batch (per-image operators, i.e. masks,
        select their rows; the others are the same for every image)."""
        return self

    # Rounds of ``consistent_in_range`` the diffusion solvers end with unless told otherwise: none
    # for the image tasks (their defaults were chosen without it), many for the scanners', whose
    # measurement is the one thing known for certain about the patient's image.
    consistency_rounds = 0

    @property
    def measurement_scale(self) -> float:
        """How large a measurement is against the pixels it comes from, an upper bound on ||A||:
        1 for the image-domain operators and k-space (their norms are at most 1), ||A|| itself for
        the Radon transform, whose line integrals sum dozens of pixels. DPS divides its step by
        it, so its default step means the same; TV compressed sensing sizes its steps by it."""
        return 1.0

    def on_measured(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` zeroed where the operator measures nothing: an operator whose output keeps
        unmeasured positions as zeros (k-space) returns them to zero after noise is added."""
        return y

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)


class Identity(LinearOperator):
    name = "identity"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        return y


class Mask(LinearOperator):
    """Keep the pixels where ``keep`` is 1; ``keep`` is (N or 1, 1, H, W), shared by the channels."""

    name = "mask"

    def __init__(self, keep: torch.Tensor) -> None:
        if keep.dim() != 4 or keep.shape[1] != 1:
            raise ValueError(f"a mask must have shape (N, 1, H, W), got {tuple(keep.shape)}")
        self.keep = keep.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.keep.to(x.device)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.keep.to(y.device)

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        return y  # missing pixels are zero

    def take(self, index: torch.Tensor) -> Mask:
        return self if self.keep.shape[0] == 1 else Mask(self.keep[index.to(self.keep.device)])

    @property
    def missing_fraction(self) -> torch.Tensor:
        return 1 - self.keep.flatten(1).mean(1)


class AveragePool(LinearOperator):
    """Average f x f blocks: (N, C, H, W) -> (N, C, H / f, W / f)."""

    name = "average_pool"

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.factor)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        f = self.factor
        return y.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1) / (f * f)

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        # Nearest-neighbour upsampling, f^2 A^T: the minimum-norm image with A(image) = y.
        return self.adjoint(y) * self.factor**2


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of radius ceil(3 sigma)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).float()


class GaussianBlur(LinearOperator):
    """Separable Gaussian blur, same size, zero padding; each channel on its own."""

    name = "gaussian_blur"

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma
        taps = gaussian_kernel(sigma)
        self.radius = (taps.numel() - 1) // 2
        self.kernel = (taps[:, None] * taps[None, :])[None, None]  # (1, 1, k, k)

    def _weight(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel.to(x.device, x.dtype).expand(x.shape[1], 1, -1, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self._weight(x), padding=self.radius, groups=x.shape[1])

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(y, self._weight(y), padding=self.radius, groups=y.shape[1])

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        return y  # the blurred image itself

    @property
    def kernel_2d(self) -> np.ndarray:
        return self.kernel[0, 0].numpy()


class Greyscale(LinearOperator):
    """RGB (N, 3, H, W) -> luma (N, 1, H, W)."""

    name = "greyscale"

    def _weights(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(LUMA_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self._weights(x)).sum(1, keepdim=True)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y * self._weights(y)

    def to_image(self, y: torch.Tensor) -> torch.Tensor:
        # The grey value in all three channels; the weights sum to 1, so A maps it back to y.
        return y.expand(-1, 3, -1, -1)


@dataclass
class Degradation:
    """A linear operator plus additive Gaussian noise of standard deviation ``noise_sigma``
    (in units of the [0, 1] image range)."""

    operator: LinearOperator
    noise_sigma: float = 0.0

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """y = A(x) + sigma n, not clipped (see the module docstring)."""
        y = self.operator(x)
        if self.noise_sigma > 0:
            y = y + self.operator.on_measured(self.noise_sigma * gaussian_noise(y.shape, generator, y.device, y.dtype))
        return y

    def observed_image(self, y: torch.Tensor) -> torch.Tensor:
        """The measurement as an image of the original's shape, clipped to [0, 1]: the degraded
        image "N" of figures and tables, and the "identity" baseline's answer."""
        return self.operator.to_image(y).clamp(0, 1)

    def take(self, index: torch.Tensor) -> Degradation:
        return Degradation(self.operator.take(index), self.noise_sigma)

    @property
    def mask(self) -> torch.Tensor | None:
        return self.operator.keep if isinstance(self.operator, Mask) else None


# ---------------------------------------------------------------------------- masks


def check_rate(rate: float) -> float:
    if not (isinstance(rate, (int, float)) and 0.0 <= rate <= 1.0):
        raise UserError(f"--rate is the fraction of pixels removed and must lie in [0, 1], got {rate}")
    return float(rate)


def random_mask(n: int, height: int, width: int, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 1, H, W) keep-masks, each with exactly round(rate * H * W) pixels missing, drawn
    independently per image."""
    rate = check_rate(rate)
    pixels = height * width
    missing = int(round(rate * pixels))
    ranks = torch.rand(n, pixels, generator=generator).argsort(dim=1).argsort(dim=1)
    keep = (ranks >= missing).float()
    return keep.view(n, 1, height, width)


def box_mask(height: int, width: int, fraction: float = 0.5) -> torch.Tensor:
    """(1, 1, H, W): a centre box of ``fraction`` of each side missing (4x4 of an 8x8 digit)."""
    bh, bw = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - bh) // 2, (width - bw) // 2
    keep = torch.ones(1, 1, height, width)
    keep[..., top : top + bh, left : left + bw] = 0
    return keep


def half_mask(height: int, width: int) -> torch.Tensor:
    """(1, 1, H, W): the lower half missing (complete a digit from its top half)."""
    keep = torch.ones(1, 1, height, width)
    keep[..., height // 2 :, :] = 0
    return keep


# ---------------------------------------------------------------------------- least squares

CG_TOLERANCE_EPS = 100  # CG stops, per image, when its residual is this many machine epsilons of the right side


def regularised_least_squares(
    operator: LinearOperator,
    y: torch.Tensor,
    anchor: torch.Tensor,
    rho: torch.Tensor | float = 0.0,
    iterations: int = 10,
) -> torch.Tensor:
    """argmin_x ||A x - y||^2 + rho ||x - anchor||^2 per image, by conjugate gradients on the
    normal equations (A^T A + rho I) x = A^T y + rho anchor, started at ``anchor``.

    With rho = 0 the iterates stay in anchor + range(A^T): CG run to convergence gives the
    measurement-consistent image nearest the anchor (the projection onto {x : A x = y}), and
    stopped early it regularises an ill-conditioned A (sparse-view CT) the way Landweber's
    early stopping does. ``rho`` is a scalar or one value per image."""
    n = anchor.shape[0]
    rho_per_image = torch.as_tensor(rho, dtype=anchor.dtype, device=anchor.device).expand(n).reshape(n, 1, 1, 1)

    def normal(v: torch.Tensor) -> torch.Tensor:
        return operator.adjoint(operator.forward(v)) + rho_per_image * v

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).flatten(1).sum(1).reshape(n, 1, 1, 1)

    x = anchor.clone()
    right_side = operator.adjoint(y) + rho_per_image * anchor
    residual = right_side - normal(x)
    direction = residual.clone()
    power = dot(residual, residual)
    # An image whose residual has fallen to rounding level (against the right-hand side) is
    # done: one more step would divide rounding noise by rounding noise (CG converges in as many
    # steps as A^T A has distinct eigenvalues, three for k-space sampling of a real image).
    floor = dot(right_side, right_side) * (CG_TOLERANCE_EPS * torch.finfo(anchor.dtype).eps) ** 2
    for _ in range(iterations):
        active = power > floor
        if not bool(active.any()):
            break
        image = normal(direction)
        curvature = dot(direction, image)
        step = torch.where(active & (curvature > 0), power / curvature.clamp_min(1e-30), torch.zeros_like(power))
        x = x + step * direction
        residual = residual - step * image
        new_power = dot(residual, residual)
        beta = torch.where(active, new_power / power.clamp_min(1e-30), torch.zeros_like(power))
        direction = residual + beta * direction
        power = torch.where(active, new_power, power)
    return x


# The RMS pixel error of a diffusion posterior sample against the truth, about 0.05 (26 dB) on the
# MNIST sample's validation split: the prior's width in ``consistent_in_range``.
SAMPLE_ERROR = 0.05
CONSISTENCY_CG_STEPS = 3  # per round: more rounds of fewer steps converge faster than the reverse


def consistent_in_range(
    operator: LinearOperator, y: torch.Tensor, images: torch.Tensor, noise_sigma: float, rounds: int
) -> torch.Tensor:
    """``images`` moved to agree with the measurement and stay in [0, 1]: ``rounds`` alternations
    of the least-squares step (``regularised_least_squares``, rho = noise_sigma^2 / SAMPLE_ERROR^2:
    for noiseless measurements the projection onto {x : A x = y}) and clipping to [0, 1], i.e.
    alternating projections onto the two sets, which converge to a point of their intersection
    near ``images``. A generated image explains the measurement only roughly; this keeps what it
    says where the measurement is silent, and takes the measurement where it speaks."""
    rho = noise_sigma**2 / SAMPLE_ERROR**2
    for _ in range(rounds):
        images = regularised_least_squares(operator, y, images, rho, CONSISTENCY_CG_STEPS).clamp(0, 1)
    return images
