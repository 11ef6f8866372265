"""The Fréchet distance between two Gaussians, through symmetric eigenvalues only."""

from __future__ import annotations

import math

import torch

from genimg.errors import UserError
from genimg.evaluate.float64 import as_float64

_TRIANGULAR_BLOCK = 256


def _congruence_lower_triangle(sigma: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """The lower triangle of L^T sigma L for lower-triangular L (upper triangle left at 0).

    Computed blockwise, skipping the blocks that are zero because L is triangular and the
    ones ``eigvalsh`` never reads (it reads only the lower triangle): about a third of the
    work of the two dense products.
    """
    n = lower.shape[0]
    # sigma_l[k:, block] = (sigma L)[k:, block] for k = the block's first column: the rows
    # below are all the second product reads (the rest stays unset), and L[m, c] = 0 for m < c.
    sigma_l = torch.empty_like(sigma)
    for start in range(0, n, _TRIANGULAR_BLOCK):
        stop = min(start + _TRIANGULAR_BLOCK, n)
        sigma_l[start:, start:stop] = sigma[start:, start:] @ lower[start:, start:stop]
    product = torch.zeros_like(sigma)
    for start in range(0, n, _TRIANGULAR_BLOCK):
        stop = min(start + _TRIANGULAR_BLOCK, n)
        product[start:stop, :stop] = lower[start:, start:stop].T @ sigma_l[start:, :stop]
    return product


def _trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr sqrt(sigma1 sigma2) for symmetric PSD sigma1, sigma2, via symmetric eigenvalues only.

    sigma1 sigma2 has the eigenvalues of the symmetric PSD matrix A^T sigma2 A for any
    factor sigma1 = A A^T (similar matrices), and tr sqrt is the sum of their square roots.
    The factor is a Cholesky factor when one covariance is numerically positive definite
    (the usual case, N > d: ~3x faster than a general ``eigvals`` of sigma1 sigma2 at
    d = 2048), else sqrt(sigma1) from ``eigh``, which also works for singular covariances
    (N <= d). Eigenvalues that rounding pushed slightly below zero are clamped to 0.

    Only the lower triangle of the factored matrix is read (Cholesky and ``eigh`` read no
    more); the other is used whole, as (sigma + sigma^T) / 2.
    """
    for first, second in ((sigma1, sigma2), (sigma2, sigma1)):
        lower, info = torch.linalg.cholesky_ex(first)
        if int(info) == 0:
            product = _congruence_lower_triangle(_symmetrised(second), lower)
            return torch.linalg.eigvalsh(product, UPLO="L").clamp(min=0).sqrt().sum()
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma1)
    sqrt_sigma1 = (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T
    product = sqrt_sigma1 @ _symmetrised(sigma2) @ sqrt_sigma1
    return torch.linalg.eigvalsh(_symmetrised(product)).clamp(min=0).sqrt().sum()


def _symmetrised(matrix: torch.Tensor) -> torch.Tensor:
    return torch.add(matrix, matrix.T).mul_(0.5)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

        d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2)

    tr sqrt(sigma1 sigma2) comes from the eigenvalues of a symmetric PSD matrix similar to
    sigma1 sigma2 (see ``_trace_sqrt_product``), never from scipy's general ``sqrtm``: no
    complex values, no NaN for singular covariances (fewer samples than dimensions), and
    a few times faster. The result is clamped at 0, its true lower bound, so rounding
    cannot report a negative distance for identical statistics.
    """
    tensors = []
    for name, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        value = as_float64(torch.as_tensor(value).detach())
        if not math.isfinite(float(value.sum())):  # one pass; NaN and inf both propagate to the sum
            raise UserError(f"{name} contains NaN or infinite values; recompute the feature statistics")
        tensors.append(value)
    mu1, sigma1, mu2, sigma2 = tensors
    dim = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.ndim != 1 or mu2.shape != mu1.shape or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise UserError(
            f"Fréchet distance needs mu (d,) and sigma (d, d) on both sides, got mu1 {tuple(mu1.shape)}, "
            f"sigma1 {tuple(sigma1.shape)}, mu2 {tuple(mu2.shape)}, sigma2 {tuple(sigma2.shape)}; "
            "use statistics from one feature extractor"
        )
    sigma2 = sigma2.to(sigma1.device)
    mu2 = mu2.to(mu1.device)
    mean_term = (mu1 - mu2).square().sum()
    distance = mean_term + torch.trace(sigma1) + torch.trace(sigma2) - 2 * _trace_sqrt_product(sigma1, sigma2)
    return max(float(distance), 0.0)
