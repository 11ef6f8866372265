"""The classical recovery baselines, the generative methods' opponents: no model, no training.

``identity`` (the degraded image itself), ``bicubic`` (super-resolution), ``tv`` and ``nlm``
(denoising, scikit-image's Chambolle total variation and non-local means, given the known
sigma), ``biharmonic`` (inpainting, scikit-image) and ``richardson-lucy`` (deblurring with the
known kernel, scikit-image). Their parameters were tuned on the validation split as well, so
that they are fair opponents: TV weight sigma / 3, non-local means h = sigma / 2 with 3x3
patches and a 7x7 search window on 8x8 images, 5 Richardson-Lucy iterations (more amplify the
noise of such small images).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from skimage import restoration

from genimg.tasks.recover.operators import AveragePool, Degradation, GaussianBlur
from genimg.tasks.recover.options import SolverOptions


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
