"""Test log-likelihood for families that have one, in nats per image and bits per dim.

Every family returns per-image bounds on log p(x) from ``model.log_likelihood(x, labels, ...)``
(VAE: ``elbo`` and ``iw``, the importance-weighted bound; diffusion: ``vlb``). Here they are
averaged over a split and reported as negative log-likelihoods: ``nll_<bound>_nats`` per
image and ``nll_<bound>_bpd`` in bits per dimension (nats / (C*H*W*ln 2)).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from tqdm.auto import tqdm

from genimg.data.dataset import ImageDataset
from genimg.models.base import GenerativeModel
from genimg.models.precision import as_float64


@torch.inference_mode()
def test_log_likelihood(
    model: GenerativeModel,
    data: ImageDataset,
    *,
    batch_size: int = 64,
    k: int = 1000,
    progress: bool = True,
    **options: Any,
) -> dict[str, float]:
    """Mean negative log-likelihood bounds over ``data``: {"nll_iw_nats": ..., "nll_iw_bpd": ..., ...}."""
    model.require("likelihood", "a test log-likelihood (use FID/KID/IS to score this model)")
    model.eval()
    sums: dict[str, float] = {}
    n = len(data)
    dims = math.prod(data.image_shape)
    for start in tqdm(range(0, n, batch_size), desc="likelihood", leave=False, disable=not progress):
        x = data.images[start : start + batch_size].to(model.device)
        y = data.labels[start : start + batch_size].to(model.device) if model.conditional else None
        bounds = model.log_likelihood(x, y, k=k, progress=False, **options)
        for name, values in bounds.items():
            sums[name] = sums.get(name, 0.0) + float(as_float64(values).sum())
    out: dict[str, float] = {}
    for name, total in sums.items():
        nll = -total / n
        out[f"nll_{name}_nats"] = nll
        out[f"nll_{name}_bpd"] = nll / (dims * math.log(2))
    out["images"] = n
    return out
