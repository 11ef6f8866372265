"""genimg's metrics beside torchmetrics on the same inputs: values and CPU-time ratios.

    python benchmarks/bench_metrics.py [--json results.json] [--threads 1] [--repeats 5]

- SSIM on 256 images of 28x28 (upscaled scikit-learn digits and a degraded copy), both
  with the torchmetrics convention (Gaussian 11 taps, sigma 1.5, reflect border).
- PSNR per image, mean over images (torchmetrics with dim=(1, 2, 3)).
- Fréchet distance on 10,000 vs 10,000 features of 2048 dimensions: genimg's
  ``frechet_distance`` against torchmetrics' ``_compute_fid`` (eigvals of sigma1 @ sigma2),
  both given the same float64 statistics; the statistics themselves are not timed.

Times are CPU seconds (time.process_time, which counts every thread), median of
``--repeats`` runs after one warm-up, with ``--threads`` torch threads (default 1, so
that other work on a shared machine perturbs the ratio as little as possible).
Goals: SSIM at least as fast as torchmetrics; Fréchet distance at least 3x faster with
the same value.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)
from genimg.evaluate.metrics.fid import frechet_distance, gaussian_stats
from genimg.evaluate.metrics.image_scores import psnr
from genimg.evaluate.metrics.ssim import ssim
from genimg.io import write_json

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torchmetrics
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
    from torchmetrics.image.fid import _compute_fid


def cpu_seconds(function, repeats: int) -> tuple[float, float, object]:
    """Median CPU and wall seconds of ``function()`` over ``repeats`` runs after a warm-up, and its last value."""
    value = function()
    cpu, wall = [], []
    for _ in range(repeats):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        value = function()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return statistics.median(cpu), statistics.median(wall), value


def digit_pairs(count: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = torch.from_numpy(load_digits().images[:count]).float().unsqueeze(1) / 16.0
    target = F.interpolate(digits, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    noise = 0.1 * torch.randn(target.shape, generator=torch.Generator().manual_seed(seed))
    return (target + noise).clamp(0, 1), target


def inception_like_features(count: int, dim: int, shift: float, seed: int) -> torch.Tensor:
    """Non-negative, correlated, full-rank features like Inception's 2048-d pool output (float32)."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=torch.Generator().manual_seed(0)) / dim**0.5
    latent = torch.randn(count, dim, generator=generator)
    return torch.relu(latent @ mixing + shift)


def row(metric, inputs, ours, theirs, ours_value, theirs_value) -> dict:
    return {
        "metric": metric,
        "inputs": inputs,
        "genimg_value": ours_value,
        "torchmetrics_value": theirs_value,
        "relative_difference": abs(ours_value - theirs_value) / max(abs(theirs_value), 1e-300),
        "genimg_cpu_s": ours[0],
        "torchmetrics_cpu_s": theirs[0],
        "genimg_wall_s": ours[1],
        "torchmetrics_wall_s": theirs[1],
        "speedup_cpu": theirs[0] / ours[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement; the median is reported")
    parser.add_argument("--fid-samples", type=int, default=10_000)
    parser.add_argument("--fid-dim", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []

    # SSIM and PSNR: 256 images of 28x28.
    preds, target = digit_pairs(256, 28, seed=0)
    ours = cpu_seconds(lambda: ssim(preds, target).mean, args.repeats)
    theirs = cpu_seconds(
        lambda: float(
            structural_similarity_index_measure(
                preds, target, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0
            )
        ),
        args.repeats,
    )
    results.append(row("SSIM (reflect, 11x11, sigma 1.5)", "256 x 1 x 28 x 28", ours, theirs, ours[2], theirs[2]))

    ours = cpu_seconds(lambda: psnr(preds, target).mean, args.repeats)
    theirs = cpu_seconds(
        lambda: float(
            peak_signal_noise_ratio(preds, target, data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3))
        ),
        args.repeats,
    )
    results.append(row("PSNR (mean of per-image)", "256 x 1 x 28 x 28", ours, theirs, ours[2], theirs[2]))

    # Fréchet distance on the same float64 statistics.
    n, d = args.fid_samples, args.fid_dim
    real = gaussian_stats(inception_like_features(n, d, shift=0.0, seed=1))
    fake = gaussian_stats(inception_like_features(n, d, shift=0.05, seed=2))
    fid_repeats = max(1, min(args.repeats, 3))
    ours = cpu_seconds(lambda: frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma), fid_repeats)
    theirs = cpu_seconds(lambda: float(_compute_fid(real.mu, real.sigma, fake.mu, fake.sigma)), fid_repeats)
    results.append(row("Fréchet distance", f"{n} vs {n}, {d}-d, float64 stats", ours, theirs, ours[2], theirs[2]))

    goals = {
        "ssim_at_least_as_fast": results[0]["speedup_cpu"] >= 1.0,
        "frechet_3x_faster": results[2]["speedup_cpu"] >= 3.0,
        "frechet_same_value_1e-6": results[2]["relative_difference"] <= 1e-6,
    }

    print(
        f"torch {torch.__version__}, torchmetrics {torchmetrics.__version__}, {args.threads} thread(s), "
        f"median of {args.repeats} (Fréchet: {fid_repeats}), CPU seconds\n"
    )
    print("| metric | inputs | genimg | torchmetrics | rel. diff | genimg CPU s | torchmetrics CPU s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['metric']} | {r['inputs']} | {r['genimg_value']:.10g} | {r['torchmetrics_value']:.10g} | "
            f"{r['relative_difference']:.1e} | {r['genimg_cpu_s']:.4f} | {r['torchmetrics_cpu_s']:.4f} | "
            f"{r['speedup_cpu']:.2f}x |"
        )
    print()
    for goal, met in goals.items():
        print(f"- {goal}: {'met' if met else 'NOT met'}")

    if args.json:
        write_json(
            args.json,
            {
                "results": results,
                "goals": goals,
                "environment": {
                    "torch": torch.__version__,
                    "torchmetrics": torchmetrics.__version__,
                    "threads": args.threads,
                    "repeats": args.repeats,
                    "fid_repeats": fid_repeats,
                    "machine": platform.machine(),
                    "processor": platform.processor(),
                    "python": platform.python_version(),
                },
            },
        )


if __name__ == "__main__":
    main()
