"""The classical recovery baselines, the generative methods' opponents: no model, no training.

``identity`` (the degraded image itself), ``bicubic`` (super-resolution), ``tv`` and ``nlm``
(denoising, scikit-image's Chambolle total variation and non-local means, given the known
sigma), ``biharmonic`` (inpainting, scikit-image) and ``richardson-lucy`` (deblurring with the
known kernel, scikit-image). Their parameters were tuned on the validation split as well, so
that they are fair opponents: TV weight sigma / 3, non-local means h = sigma / 2 with 3x3
patches and a 7x7 search window on 8x8 images, 5 Richardson-Lucy iterations (more amplify the
noise of such small images).

For the scanners' tasks (``mri``, ``ct``): the zero-filled inverse FFT (MRI) and the filtered
back-projection (CT, ``skimage.transform.iradon`` with the ramp filter) are the measurement shown as
an image, ``zero-filled`` and ``fbp``; ``sart`` is scikit-image's ``iradon_sart`` (CT); and ``tv-cs``
is total-variation compressed sensing for either, min_x 1/2 ||A x - y||^2 + w TV(x) over images in
[0, 1] (isotropic TV), solved for the whole batch at once by Chambolle and Pock's primal-dual
algorithm (2011) with A and A^T only; its weight grows with the noise (``TV_CS_WEIGHT``, chosen on
the MNIST sample's validation split) and it runs 1000 iterations (300 left 1 to 4 dB on the table).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from skimage import restoration

from genimg.tasks.recover.operators import AveragePool, Degradation, GaussianBlur, LinearOperator
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.scanner_operators import ParallelBeamRadon, view_angles

# tv-cs's weight w = TV_CS_WEIGHT + TV_CS_WEIGHT_PER_SIGMA * sigma, chosen on the MNIST sample's
# validation split (32 images, 4x and 2x MRI, 8 and 32 CT views, 1000 iterations): noiseless, the
# smallest weight tried (3e-4) won everywhere (MRI 4x 27.4 dB against 25.9 at 3e-3); at sigma 0.05,
# 3e-3 to 1e-2 (MRI 4x 21.1 / 20.9 dB, CT 8 views 33.7 / 33.9 dB) against 18.8 at 3e-2.
TV_CS_WEIGHT = 3e-4
TV_CS_WEIGHT_PER_SIGMA = 0.1


def _per_image(images: torch.Tensor, function: Callable[..., np.ndarray], *per_image: np.ndarray) -> torch.Tensor:
    """Apply a NumPy function to each (H, W) or (H, W, 3) image, as ``function(array, channel_axis,
    *extras)`` where ``extras`` are the image's entries of ``per_image`` (e.g. its mask)."""
    channels = images.shape[1]
    out = []
    for image, *extras in zip(images.detach().cpu().double().numpy(), *per_image):
        array = image[0] if channels == 1 else image.transpose(1, 2, 0)
        result = function(array, None if channels == 1 else -1, *extras)
        out.append(result[None] if channels == 1 else result.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1)


def baseline_identity(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    return degradation.observed_image(y)


def baseline_bicubic(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    operator = degradation.operator
    assert isinstance(operator, AveragePool)  # the method serves super-resolution only
    return F.interpolate(y, scale_factor=operator.factor, mode="bicubic", align_corners=False).clamp(0, 1)


def baseline_tv(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    weight = options.tv_weight if options.tv_weight is not None else degradation.noise_sigma / 3
    return _per_image(y, lambda a, axis: restoration.denoise_tv_chambolle(a, weight=weight, channel_axis=axis))


def baseline_nlm(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    sigma = degradation.noise_sigma
    h = options.nlm_h if options.nlm_h is not None else sigma / 2
    size = min(y.shape[-2:])
    # Patches and search window scaled to the image: 3x3 patches, 7x7 search on 8x8 digits.
    patch, distance = (3, 3) if size <= 16 else (5, 6)
    return _per_image(
        y,
        lambda a, axis: restoration.denoise_nl_means(
            a, patch_size=patch, patch_distance=distance, h=h, sigma=sigma, fast_mode=True, channel_axis=axis
        ),
    )


def baseline_biharmonic(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    mask = degradation.mask
    assert mask is not None  # the method serves inpainting only
    missing = (mask < 0.5).expand(y.shape[0], 1, *y.shape[-2:]).cpu().numpy()[:, 0]
    return _per_image(
        degradation.observed_image(y),
        lambda a, axis, holes: restoration.inpaint_biharmonic(a, holes, channel_axis=axis),
        missing,
    )


def baseline_richardson_lucy(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    operator = degradation.operator
    assert isinstance(operator, GaussianBlur)  # the method serves deblurring only
    psf = operator.kernel_2d.astype(np.float64)

    def deconvolve(array: np.ndarray, axis: int | None) -> np.ndarray:
        array = np.clip(array, 0, 1)
        if axis is None:
            return restoration.richardson_lucy(array, psf, num_iter=options.rl_iterations)
        return np.stack(
            [
                restoration.richardson_lucy(array[..., c], psf, num_iter=options.rl_iterations)
                for c in range(array.shape[-1])
            ],
            axis=-1,
        )

    return _per_image(y, deconvolve)


def baseline_sart(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    """scikit-image's SART, ``options.sart_iterations`` sweeps, each started from the last,
    clipped to [0, 1] (the images' range, a constraint SART takes at no cost)."""
    from skimage.transform import iradon_sart  # imported here: skimage.transform is slow to import

    operator = degradation.operator
    assert isinstance(operator, ParallelBeamRadon)  # the method serves CT only
    theta = view_angles(operator.views)

    def reconstruct(sinogram: np.ndarray) -> np.ndarray:
        image = None
        for _ in range(options.sart_iterations):
            image = iradon_sart(sinogram, theta, image=image, clip=(0.0, 1.0))
        assert image is not None
        return image

    # SART reconstructs the whole padded square the sinogram covers; the image is its centre.
    first = operator.bins // 2 - operator.size // 2
    crop = slice(first, first + operator.size)
    arrays = y.detach().cpu().double().numpy()
    out = np.stack([[reconstruct(channel)[crop, crop] for channel in image] for image in arrays])
    return torch.from_numpy(out).float()


def gradient(x: torch.Tensor) -> torch.Tensor:
    """Forward differences (N, C, H, W) -> (N, C, 2, H, W), zero across the last row / column."""
    dx = torch.zeros_like(x)
    dy = torch.zeros_like(x)
    dy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    dx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return torch.stack([dy, dx], dim=2)


def divergence(field: torch.Tensor) -> torch.Tensor:
    """Minus the adjoint of ``gradient``: <gradient(x), p> = -<x, divergence(p)>."""
    dy, dx = field[:, :, 0], field[:, :, 1]
    out = torch.zeros_like(dy)
    out[..., :-1, :] += dy[..., :-1, :]
    out[..., 1:, :] -= dy[..., :-1, :]
    out[..., :, :-1] += dx[..., :, :-1]
    out[..., :, 1:] -= dx[..., :, :-1]
    return out


def tv_least_squares(operator: LinearOperator, y: torch.Tensor, weight: float, iterations: int) -> torch.Tensor:
    """Chambolle-Pock for min_{x in [0,1]} 1/2 ||A x - y||^2 + weight ||grad x||_{2,1}, all images
    at once: dual variables p (measurements) and q (gradients), steps tau = sigma = 0.99 / ||K||
    with K = (A, grad), ||A|| <= ``measurement_scale`` and ||grad||^2 <= 8."""
    step = 0.99 / math.sqrt(operator.measurement_scale**2 + 8.0)
    x = operator.adjoint(y).clamp(0, 1)
    x_bar = x.clone()
    p = torch.zeros_like(y)
    q = torch.zeros_like(gradient(x))
    for _ in range(iterations):
        p = (p + step * (operator.forward(x_bar) - y)) / (1 + step)
        q = q + step * gradient(x_bar)
        q = q / (q.norm(dim=2, keepdim=True) / weight).clamp_min(1.0)  # onto the balls of radius weight
        x_new = (x - step * (operator.adjoint(p) - divergence(q))).clamp(0, 1)
        x_bar = 2 * x_new - x
        x = x_new
    return x


def baseline_tv_cs(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    weight = options.tv_weight
    if weight is None:
        weight = TV_CS_WEIGHT + TV_CS_WEIGHT_PER_SIGMA * degradation.noise_sigma
    return tv_least_squares(degradation.operator, y.cpu(), weight, options.tv_iterations).cpu()
