"""Likelihood baselines on the digits protocol, beside the default VAE.

A mixture of K categorical distributions (one 17-way categorical per pixel and component),
fitted by EM on the train split with the component count's best restart chosen on val, and
the independent per-pixel categorical (K = 1). Both are exact discrete likelihoods, so they
compare directly with the VAE's bounds in nats per image.

    python benchmarks/likelihood_baselines.py [--run RUN_DIR] [--components 20]

Without --run it trains the default VAE (`genimg train vae`) first.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import logsumexp

import genimg  # noqa: F401  (OMP_WAIT_POLICY)
from genimg.data import load_dataset
from genimg.runs import RunDir
from genimg.train import apply_overrides, default_config, train


def one_hot_levels(split: str) -> np.ndarray:
    data = load_dataset("digits", split)
    idx = data.pixel_indices().flatten(1).numpy()  # (N, 64) in 0..16
    return np.eye(data.levels, dtype=np.float64)[idx]  # (N, 64, 17)


def fit_mixture(
    x: np.ndarray, k: int, seed: int, iters: int = 200, alpha: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """EM for a mixture of per-pixel categoricals with a Dirichlet(alpha + 1) MAP smoothing."""
    rng = np.random.default_rng(seed)
    n, d, v = x.shape
    resp = rng.dirichlet(np.ones(k), size=n)  # random soft assignment to start
    prev = -np.inf
    for _ in range(iters):
        weights = (resp.sum(0) + 1e-3) / (n + k * 1e-3)
        counts = np.einsum("nk,ndv->kdv", resp, x) + alpha
        log_theta = np.log(counts / counts.sum(-1, keepdims=True))
        log_joint = np.log(weights)[None] + np.einsum("ndv,kdv->nk", x, log_theta)
        ll = logsumexp(log_joint, axis=1)
        resp = np.exp(log_joint - ll[:, None])
        if ll.mean() - prev < 1e-6:
            break
        prev = ll.mean()
    return np.log(weights), log_theta


def mixture_nll(x: np.ndarray, log_w: np.ndarray, log_theta: np.ndarray) -> float:
    return float(-logsumexp(log_w[None] + np.einsum("ndv,kdv->nk", x, log_theta), axis=1).mean())


def best_mixture(k: int, restarts: int = 5) -> tuple[float, float]:
    """Fit with several seeds and smoothing strengths; keep the one best on val; return (val, test) NLL."""
    train, val, test = one_hot_levels("train"), one_hot_levels("val"), one_hot_levels("test")
    best = None
    for alpha in (0.1, 0.5, 1.0):
        for seed in range(restarts if k > 1 else 1):
            params = fit_mixture(train, k, seed, alpha=alpha)
            score = mixture_nll(val, *params)
            if best is None or score < best[0]:
                best = (score, params)
    return best[0], mixture_nll(test, *best[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a trained VAE run directory (default: train the default VAE)")
    ap.add_argument("--components", type=int, default=20)
    args = ap.parse_args()

    t0 = time.perf_counter()
    _, indep = best_mixture(1)
    _, mix = best_mixture(args.components)
    baseline_s = time.perf_counter() - t0

    if args.run:
        summary = RunDir.open(args.run).summary()
    else:
        summary = train(
            apply_overrides(default_config("vae"), ["out=runs/bench", "progress=false"]), quiet=True
        ).summary
    lik = summary["likelihood"]
    print("| model (digits test split, 447 images) | NLL nats/image |")
    print("|---|---|")
    print(f"| independent per-pixel categorical | {indep:.2f} |")
    print(f"| mixture of {args.components} categoricals (EM) | {mix:.2f} |")
    print(f"| genimg VAE, negative ELBO | {lik['nll_elbo_nats']:.2f} |")
    print(f"| genimg VAE, importance-weighted bound (k=1000) | {lik['nll_iw_nats']:.2f} |")
    print(
        f"\nbaselines fitted in {baseline_s:.1f} s; VAE trained in {summary['train_time_s']:.1f} s "
        f"({summary['train_cpu_s']:.1f} CPU-s, {summary['epochs_trained']} epochs, kept epoch {summary['best_epoch']})"
    )


if __name__ == "__main__":
    main()
