"""Structural similarity (Wang et al. 2004), per image.

An 11-tap Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, population (not sample)
variances, and the mean over channels for RGB. Two border conventions are offered, see ``ssim``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from genimg.errors import UserError
from genimg.evaluate.metrics.image_scores import ImageScores, check_data_range, check_image_pair
from genimg.models.precision import float64_device

HIGHER_IS_BETTER = True
SSIMBorder = Literal["reflect", "valid"]
SSIM_BORDERS = ("reflect", "valid")


def _gaussian_taps(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The normalised 1-D Gaussian window; radius int(3.5 sigma + 0.5), i.e. 11 taps at sigma 1.5.

    That radius is the one scikit-image (truncate=3.5) and torchmetrics use, so all three
    filter with the same weights.
    """
    radius = int(3.5 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).to(dtype=dtype).to(device=device)  # cast on the CPU: MPS takes no float64


# Up to this side length the Gaussian filter runs as two small matrix products per image
# plane (a banded matrix with the border rule folded in); measured here on one CPU thread,
# that is 4-17x faster than F.conv2d on 8-128 px planes and still 2x at 512 px. Beyond it
# the dense matrices cost O(side) per pixel and the 11-tap convolution wins.
MATRIX_FILTER_MAX_SIDE = 512


def _filter_matrix(size: int, taps: torch.Tensor, border: str) -> torch.Tensor:
    """The 1-D Gaussian filter along an axis of ``size`` pixels as a (outputs x size) matrix.

    ``reflect``: one output per pixel, window taps falling outside mirrored back inside
    without repeating the edge pixel (torch's ``F.pad(mode="reflect")``). ``valid``: only
    the ``size - 2 radius`` outputs whose window lies inside.
    """
    radius = (taps.numel() - 1) // 2
    first_centre = 0 if border == "reflect" else radius
    centres = torch.arange(first_centre, size - first_centre, device=taps.device)
    columns = centres[:, None] + torch.arange(-radius, radius + 1, device=taps.device)[None, :]
    columns = torch.where(columns < 0, -columns, columns)
    columns = torch.where(columns > size - 1, 2 * (size - 1) - columns, columns)
    matrix = torch.zeros(centres.numel(), size, dtype=taps.dtype, device=taps.device)
    return matrix.scatter_add_(1, columns, taps.expand(centres.numel(), -1).contiguous())


def _gaussian_filter(planes: torch.Tensor, taps: torch.Tensor, border: str) -> torch.Tensor:
    """Filter a stack of single-channel planes (P, H, W) separably, as ``border`` says."""
    height, width = planes.shape[-2:]
    if max(height, width) <= MATRIX_FILTER_MAX_SIDE:
        along_height = _filter_matrix(height, taps, border)
        along_width = _filter_matrix(width, taps, border)
        return torch.matmul(along_height, planes @ along_width.T)
    radius = (taps.numel() - 1) // 2
    planes = planes.unsqueeze(1)
    if border == "reflect":
        planes = F.pad(planes, (radius, radius, radius, radius), mode="reflect")
    planes = F.conv2d(planes, taps.view(1, 1, -1, 1))
    planes = F.conv2d(planes, taps.view(1, 1, 1, -1))
    return planes.squeeze(1)


def _ssim_per_image(
    preds: torch.Tensor,
    target: torch.Tensor,
    border: str,
    data_range: float,
    sigma: float,
    k1: float,
    k2: float,
) -> torch.Tensor:
    batch, channels, height, width = preds.shape
    taps = _gaussian_taps(sigma, preds.dtype, preds.device)

    # Local (co)variances are E[x^2] - E[x]^2 and E[xy] - E[x]E[y], which cancel badly in
    # float32 where the image is flat. Both are unchanged by shifting x and y, so each
    # plane is first centred on its own mean: on two constant images the variances are then
    # exactly 0 (torchmetrics in float32 is 3e-4 off there; centred, we are within 1e-7).
    offset_x = preds.mean(dim=(-2, -1), keepdim=True)
    offset_y = target.mean(dim=(-2, -1), keepdim=True)
    x, y = preds - offset_x, target - offset_y

    # The five local statistics of every channel of every image are filtered in one batch:
    # channels are folded into the batch axis, so one single-channel separable filter
    # serves grayscale and RGB alike.
    planes = torch.stack([x, y, x * x, y * y, x * y])
    planes = _gaussian_filter(planes.reshape(5 * batch * channels, height, width), taps, border)
    local_x, local_y, local_xx, local_yy, local_xy = planes.reshape(5, batch, channels, *planes.shape[-2:]).unbind(0)
    # E[x'^2] - E[x']^2 can still come out a rounding error below zero; a variance cannot.
    var_x = (local_xx - local_x * local_x).clamp(min=0.0)
    var_y = (local_yy - local_y * local_y).clamp(min=0.0)
    cov_xy = local_xy - local_x * local_y
    mean_x, mean_y = local_x + offset_x, local_y + offset_y

    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mean_x_sq = mean_x * mean_x
    mean_y_sq = mean_y * mean_y
    mean_x_y = mean_x * mean_y
    ssim_map = ((2 * mean_x_y + c1) * (2 * cov_xy + c2)) / ((mean_x_sq + mean_y_sq + c1) * (var_x + var_y + c2))
    values = ssim_map.flatten(1)
    return values.to(float64_device(values.device)).mean(dim=1, dtype=torch.float64)  # MPS: on the CPU


def ssim(
    preds: torch.Tensor,
    target: torch.Tensor,
    border: SSIMBorder = "reflect",
    data_range: float = 1.0,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> ImageScores:
    """Structural similarity per image (mean of the SSIM map over channels and pixels), and its mean.

    Gaussian window of 11 taps (sigma 1.5), K1 = 0.01, K2 = 0.03, population variances.

    ``border`` chooses what happens where the window overhangs the image:

    - ``"reflect"`` (default, torchmetrics' convention): the image is mirror-padded by the
      window radius (5 px, edge pixel not repeated) and the SSIM map over all H x W pixels is
      averaged. Matches ``torchmetrics.functional.structural_similarity_index_measure(...,
      gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1)``. Needs H, W >= 6.
    - ``"valid"`` (Wang et al. 2004, scikit-image's ``structural_similarity(...,
      gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``): only positions where
      the whole window lies inside the image count, i.e. the map is cropped by (11 - 1) / 2
      = 5 px at each border. Needs H, W >= 11.

    The default is ``"reflect"`` because the bundled digits are 8 x 8, smaller than the
    11 x 11 window: the valid region of an 8 x 8 image is empty, and scikit-image refuses
    such images ("win_size exceeds image extent"), while the reflect convention is defined
    for them. On larger images the two differ by how much the 5-px border counts; use
    ``"valid"`` to reproduce numbers computed with scikit-image or the original MATLAB code.
    """
    if border not in SSIM_BORDERS:
        raise UserError(f"unknown SSIM border {border!r}; use one of {', '.join(SSIM_BORDERS)}")
    if not sigma > 0:
        raise UserError(f"SSIM sigma must be positive, got {sigma}; the standard value is 1.5")
    data_range = check_data_range(data_range)
    preds, target = check_image_pair(preds, target)
    window = 2 * int(3.5 * sigma + 0.5) + 1
    smallest = min(preds.shape[-2:])
    if border == "valid" and smallest < window:
        raise UserError(
            f"SSIM with border='valid' needs images of at least {window}x{window} (the window), "
            f"got {tuple(preds.shape[-2:])}; use border='reflect' for small images"
        )
    if border == "reflect" and smallest <= window // 2:
        raise UserError(
            f"SSIM with border='reflect' needs images larger than the window radius {window // 2}, "
            f"got {tuple(preds.shape[-2:])}; upscale the images or pass a smaller sigma"
        )
    return ImageScores.from_per_image(_ssim_per_image(preds, target, border, data_range, sigma, k1, k2))
