"""Recovery metrics (MSE, RMSE, PSNR, SSIM) against torchmetrics and scikit-image on the same images."""

import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import genimg.evaluate.metrics.ssim as ssim_module
from genimg.errors import UserError
from genimg.evaluate.metrics.image_scores import mse, psnr, rmse
from genimg.evaluate.metrics.recovery_metrics import RecoveryMetrics
from genimg.evaluate.metrics.ssim import ssim

skimage_data = pytest.importorskip("skimage.data")
skimage_metrics = pytest.importorskip("skimage.metrics")
from torchmetrics.functional import mean_squared_error as tm_mse  # noqa: E402
from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr  # noqa: E402
from torchmetrics.functional.image import structural_similarity_index_measure  # noqa: E402

TOLERANCE = 1e-5


def tm_ssim(preds: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
    """torchmetrics' SSIM, run in float64.

    In float32, torchmetrics' E[x^2] - E[x]^2 loses up to 3e-4 to cancellation (two constant
    8x8 images: 0.59979 instead of the exact 0.60006) where genimg, centring each plane
    first, is 1e-7 off; in float64 both agree to 1e-13, so float64 is the fair oracle.
    """
    return structural_similarity_index_measure(preds.double(), target.double(), **kwargs)


# ---------------------------------------------------------------------------- images


def _degrade(images: torch.Tensor, seed: int) -> torch.Tensor:
    """A plausible 'recovered' version: blurred a little, noisy, clamped to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    blurred = F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    noisy = 0.7 * images + 0.3 * blurred + 0.08 * torch.randn(images.shape, generator=generator)
    return noisy.clamp(0, 1)


def _digits(size: int | None = None) -> torch.Tensor:
    from sklearn.datasets import load_digits

    images = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16.0
    if size is not None:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return images


def _camera_tiles(size: int) -> torch.Tensor:
    """Tiles of skimage's camera (512x512 gray), downsized by 4 then cut into size x size tiles."""
    camera = torch.from_numpy(skimage_data.camera()).float()[None, None] / 255.0
    small = F.interpolate(camera, size=(128, 128), mode="area")
    tiles = small.unfold(2, size, size).unfold(3, size, size)  # 1,1,nh,nw,size,size
    return tiles.reshape(-1, 1, size, size).contiguous()


def _astronaut_tiles(size: int) -> torch.Tensor:
    """RGB tiles of skimage's astronaut (512x512x3), downsized by 4."""
    astronaut = torch.from_numpy(skimage_data.astronaut()).float().permute(2, 0, 1)[None] / 255.0
    small = F.interpolate(astronaut, size=(128, 128), mode="area").clamp(0, 1)
    tiles = small.unfold(2, size, size).unfold(3, size, size)  # 1,3,nh,nw,size,size
    return tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, size, size).contiguous()


def _random(shape, seed) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _pairs():
    """(name, preds, target) covering random and real images, gray and RGB, batch 1 to 256."""
    digits = _digits()
    yield "random gray 8x8 batch 1", _degrade(_random((1, 1, 8, 8), 0), 1), _random((1, 1, 8, 8), 0)
    yield "digits 8x8 batch 256", _degrade(digits[:256], 2), digits[:256]
    yield "digits upscaled 28x28 batch 64", _degrade(_digits(28)[:64], 3), _digits(28)[:64]
    yield "random RGB 32x32 batch 5", _random((5, 3, 32, 32), 4), _random((5, 3, 32, 32), 5)
    yield "camera tiles 32x32", _degrade(_camera_tiles(32), 6), _camera_tiles(32)
    yield "astronaut RGB tiles 32x32", _degrade(_astronaut_tiles(32), 7), _astronaut_tiles(32)
    yield "random gray 28x28 batch 256", _random((256, 1, 28, 28), 8), _random((256, 1, 28, 28), 9)
    yield "non-square 20x45 RGB", _degrade(_random((3, 3, 20, 45), 10), 11), _random((3, 3, 20, 45), 10)


PAIRS = list(_pairs())
PAIR_IDS = [name for name, _, _ in PAIRS]


def _skimage_ssim(preds: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    values = []
    for recovered, original in zip(preds.double().numpy(), target.double().numpy()):
        kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        if recovered.shape[0] == 1:
            values.append(skimage_metrics.structural_similarity(recovered[0], original[0], **kwargs))
        else:
            values.append(skimage_metrics.structural_similarity(recovered, original, channel_axis=0, **kwargs))
    return np.array(values)


# ---------------------------------------------------------------------------- against references


@pytest.mark.parametrize("name,preds,target", PAIRS, ids=PAIR_IDS)
def test_mse_rmse_psnr_match_torchmetrics(name, preds, target):
    per_image_mse = torch.stack([tm_mse(p, t) for p, t in zip(preds, target)]).double()
    result = mse(preds, target)
    torch.testing.assert_close(result.per_image, per_image_mse, rtol=TOLERANCE, atol=1e-7)
    assert result.mean == pytest.approx(float(tm_mse(preds, target)), rel=TOLERANCE)

    torch.testing.assert_close(rmse(preds, target).per_image, per_image_mse.sqrt(), rtol=TOLERANCE, atol=1e-7)
    assert rmse(preds, target).mean == pytest.approx(float(per_image_mse.sqrt().mean()), rel=TOLERANCE)

    reference = tm_psnr(preds, target, data_range=1.0, reduction="none", dim=(1, 2, 3)).double()
    result = psnr(preds, target)
    torch.testing.assert_close(result.per_image, reference, rtol=TOLERANCE, atol=1e-5)
    mean_reference = tm_psnr(preds, target, data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))
    assert result.mean == pytest.approx(float(mean_reference), rel=TOLERANCE)
    assert result.num_infinite == 0


@pytest.mark.parametrize("name,preds,target", PAIRS, ids=PAIR_IDS)
def test_ssim_reflect_matches_torchmetrics(name, preds, target):
    reference = tm_ssim(
        preds, target, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none"
    )
    result = ssim(preds, target)  # border="reflect" is the default
    torch.testing.assert_close(result.per_image, reference.double(), rtol=0, atol=TOLERANCE)
    assert result.mean == pytest.approx(float(reference.double().mean()), abs=TOLERANCE)


@pytest.mark.parametrize(
    "name,preds,target",
    [p for p in PAIRS if min(p[1].shape[-2:]) >= 11],
    ids=[n for n, p, _ in PAIRS if min(p.shape[-2:]) >= 11],
)
def test_ssim_valid_matches_scikit_image(name, preds, target):
    result = ssim(preds, target, border="valid")
    np.testing.assert_allclose(result.per_image.numpy(), _skimage_ssim(preds, target), rtol=0, atol=TOLERANCE)


def test_ssim_valid_on_the_smallest_allowed_image_matches_scikit_image():
    preds, target = _random((4, 1, 11, 11), 20), _random((4, 1, 11, 11), 21)
    np.testing.assert_allclose(
        ssim(preds, target, border="valid").per_image.numpy(), _skimage_ssim(preds, target), atol=TOLERANCE
    )


def test_the_two_ssim_borders_differ_on_real_images():
    # Guards against one border silently computing the other.
    preds, target = _degrade(_camera_tiles(32), 30), _camera_tiles(32)
    assert (ssim(preds, target).per_image - ssim(preds, target, border="valid").per_image).abs().max() > 1e-3


def test_ssim_convolution_path_matches_matrix_path(monkeypatch):
    name, preds, target = PAIRS[5]  # astronaut RGB tiles
    by_matrix = ssim(preds, target).per_image
    valid_by_matrix = ssim(preds, target, border="valid").per_image
    monkeypatch.setattr(ssim_module, "MATRIX_FILTER_MAX_SIDE", 0)  # large-image route: F.conv2d
    torch.testing.assert_close(ssim(preds, target).per_image, by_matrix, rtol=0, atol=1e-6)
    torch.testing.assert_close(ssim(preds, target, border="valid").per_image, valid_by_matrix, rtol=0, atol=1e-6)


def test_ssim_in_float64_matches_references_closely():
    preds, target = _degrade(_digits(28)[:16], 40).double(), _digits(28)[:16].double()
    reference = tm_ssim(
        preds, target, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none"
    )
    torch.testing.assert_close(ssim(preds, target).per_image, reference, rtol=0, atol=1e-10)
    # and float32 inputs stay within 1e-6 of the float64 result
    float32 = ssim(preds.float(), target.float()).per_image
    torch.testing.assert_close(float32, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        ssim(preds, target, border="valid").per_image.numpy(), _skimage_ssim(preds, target), atol=1e-10
    )


# ---------------------------------------------------------------------------- edge cases


def test_identical_images_give_infinite_psnr_and_unit_ssim():
    images = _digits()[:10]
    result = psnr(images, images.clone())
    assert torch.isinf(result.per_image).all() and (result.per_image > 0).all()
    assert result.mean == math.inf and result.num_infinite == 10
    assert mse(images, images).mean == 0.0 and rmse(images, images).mean == 0.0
    torch.testing.assert_close(ssim(images, images).per_image, torch.ones(10, dtype=torch.float64), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        ssim(_digits(28)[:3], _digits(28)[:3], border="valid").per_image,
        torch.ones(3, dtype=torch.float64),
        rtol=0,
        atol=1e-6,
    )


def test_psnr_mean_skips_exact_images_and_counts_them():
    target = _digits()[:4]
    preds = target.clone()
    preds[1:] = _degrade(target[1:], 50)
    result = psnr(preds, target)
    assert math.isinf(result.per_image[0]) and torch.isfinite(result.per_image[1:]).all()
    assert result.num_infinite == 1
    assert result.mean == pytest.approx(float(result.per_image[1:].mean()))
    assert not math.isnan(result.mean)
    assert result.to_dict() == {"mean": result.mean, "num_images": 4, "num_infinite": 1}


@pytest.mark.parametrize("border,size", [("reflect", 8), ("valid", 16)])
def test_constant_images_match_references(border, size):
    constant_a = torch.full((3, 1, size, size), 0.25)
    constant_b = torch.full((3, 1, size, size), 0.75)
    torch.testing.assert_close(
        ssim(constant_a, constant_a, border=border).per_image, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-6
    )
    ours = ssim(constant_a, constant_b, border=border).per_image
    if border == "reflect":
        reference = tm_ssim(
            constant_a, constant_b, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none"
        ).double()
    else:
        reference = torch.from_numpy(_skimage_ssim(constant_a, constant_b))
    torch.testing.assert_close(ours, reference, rtol=0, atol=TOLERANCE)
    # Luminance term only: (2 * 0.25 * 0.75 + C1) / (0.25^2 + 0.75^2 + C1), variances are zero.
    c1 = 0.01**2
    assert float(ours[0]) == pytest.approx((2 * 0.25 * 0.75 + c1) / (0.25**2 + 0.75**2 + c1), abs=1e-6)
    assert psnr(constant_a, constant_b).per_image[0] == pytest.approx(10 * math.log10(1 / 0.25), abs=1e-6)


def test_recovery_metrics_streaming_equals_one_shot():
    name, preds, target = PAIRS[1]  # digits 8x8, 256 images
    metric = RecoveryMetrics()
    for start in range(0, 256, 100):
        metric.update(preds[start : start + 100], target[start : start + 100])
    metric.update(target[:2], target[:2])  # two exact recoveries: infinite PSNR
    scores = metric.compute()
    assert scores["mse"].mean == pytest.approx(
        mse(torch.cat([preds, target[:2]]), torch.cat([target, target[:2]])).mean
    )
    assert scores["ssim"].mean == pytest.approx(
        ssim(torch.cat([preds, target[:2]]), torch.cat([target, target[:2]])).mean
    )
    assert scores["psnr"].num_infinite == 2
    assert scores["psnr"].mean == pytest.approx(psnr(preds, target).mean)
    assert scores["rmse"].per_image.shape == (258,)
    metric.reset()
    with pytest.raises(UserError):
        metric.compute()


# ---------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "preds,target,match",
    [
        (torch.rand(8, 8), torch.rand(8, 8), "NCHW"),
        (torch.rand(2, 1, 8, 8), torch.rand(3, 1, 8, 8), "same shape"),
        (torch.rand(2, 1, 8, 8) * 2 - 1, torch.rand(2, 1, 8, 8), r"\[0, 1\]"),
        (torch.full((1, 1, 8, 8), float("nan")), torch.rand(1, 1, 8, 8), r"\[0, 1\]"),
        (torch.randint(0, 255, (2, 1, 8, 8), dtype=torch.uint8), torch.rand(2, 1, 8, 8), "float"),
        (np.zeros((2, 1, 8, 8)), torch.rand(2, 1, 8, 8), "torch.Tensor"),
    ],
)
def test_bad_inputs_raise_user_errors(preds, target, match):
    for metric in (mse, rmse, psnr, ssim):
        with pytest.raises(UserError, match=match):
            metric(preds, target)


def test_ssim_border_rules_are_checked():
    images = torch.rand(2, 1, 8, 8)
    with pytest.raises(UserError, match="border='reflect'"):
        ssim(images, images, border="valid")  # 8x8 is smaller than the 11x11 window
    with pytest.raises(UserError, match="unknown SSIM border"):
        ssim(images, images, border="same")
    with pytest.raises(UserError, match="radius"):
        ssim(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5))


# ---------------------------------------------------------------------------- speed


def test_ssim_is_at_least_as_fast_as_torchmetrics():
    preds, target = _random((256, 1, 28, 28), 60), _random((256, 1, 28, 28), 61)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:

        def best_cpu_time(function):
            function()
            times = []
            for _ in range(5):
                start = time.process_time()
                function()
                times.append(time.process_time() - start)
            return min(times)

        ours = best_cpu_time(lambda: ssim(preds, target))
        theirs = best_cpu_time(lambda: structural_similarity_index_measure(preds, target, data_range=1.0))
    finally:
        torch.set_num_threads(threads)
    assert ours <= theirs, f"genimg SSIM {ours * 1e3:.1f} ms vs torchmetrics {theirs * 1e3:.1f} ms"
