"""Per-image negative log-likelihoods for outlier scores, and their cache on disk.

-log p(x) in nats per image comes from the family's tightest bound
(``model.marginal_log_likelihood`` then ``model.primary_bound``): the VAE's importance-weighted
bound with ``k`` samples (default 100: 10x cheaper than k = 1000, within about half a nat of it
on digits), the diffusion model's variational bound over all T terms (``t_stride`` = 1, the
default: ~1.3 s of one CPU core per 8x8 image). ``t_stride`` > 1 uses the family's stratified
estimate (one random term per block of t_stride timesteps): unbiased, but on digits its
per-image noise is ~160 nats at t_stride = 10 against gaps of tens of nats between sets,
because the first few terms dominate the sum; use it only for a quick look.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch

from genimg.io import read_checked, write_checked
from genimg.models.base import GenerativeModel
from genimg.rng import fixed_seed


def negative_log_likelihood(
    model: GenerativeModel,
    images: torch.Tensor,
    *,
    k: int = 100,
    t_stride: int = 1,
    batch_size: int = 100,
    seed: int = 0,
) -> tuple[torch.Tensor, str]:
    """Per-image -log p(x) in nats (float64) from the tightest bound the family returns, and its name.

    The estimator's noise is seeded with ``seed``, so a model and its background model scoring
    the same images draw the same noise (common random numbers: their difference is less noisy)."""
    model.require("likelihood", "likelihood scores (use --score disc)")
    model.eval()
    values: list[torch.Tensor] = []
    bound_name = ""
    with fixed_seed(seed), torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            batch = images[start : start + batch_size].to(model.device)
            bounds = model.marginal_log_likelihood(batch, k=k, t_stride=t_stride)
            bound_name = model.primary_bound(bounds)
            values.append(-bounds[bound_name].double().cpu())
    return torch.cat(values), bound_name


def cached_negative_log_likelihood(
    model: GenerativeModel, images: torch.Tensor, cache_dir: Path, **options: Any
) -> tuple[torch.Tensor, str]:
    """``negative_log_likelihood``, remembered in ``cache_dir`` under a fingerprint of the model's
    config, weights, the images and the options: the exact diffusion bound costs ~1.3 CPU-seconds
    per image, and asking for one more score, or re-running a benchmark, should not pay it again.
    The config counts because it can change the bound for the same weights (diffusion's snap_x0).
    An entry carries its SHA-256: a damaged one is computed again and rewritten, never trusted."""
    dataclass_config = is_dataclass(model.config) and not isinstance(model.config, type)
    config = asdict(model.config) if dataclass_config else repr(model.config)
    fingerprint = {"family": model.family, "config": config, **options}
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(_tensor_bytes(tensor))
    digest.update(_tensor_bytes(images))
    path = Path(cache_dir) / f"nll-{digest.hexdigest()[:32]}.pt"
    payload = read_checked(path)
    if payload is None and path.is_file() and path.read_bytes()[:4] == b"PK\x03\x04":
        payload = _entry_from_before_checksums(path)
    if payload is not None:  # None: missing, or damaged and so computed again
        saved = torch.load(io.BytesIO(payload), weights_only=True)
        return saved["nll"], saved["bound"]
    nll, bound = negative_log_likelihood(model, images, **options)
    buffer = io.BytesIO()
    torch.save({"nll": nll, "bound": bound}, buffer)
    write_checked(path, buffer.getvalue())
    return nll, bound


def _entry_from_before_checksums(path: Path) -> bytes | None:
    """An entry written before entries carried a checksum (a bare torch.save zip), kept because
    it cost hours of CPU to compute: read as it always was, and rewritten with its checksum."""
    try:
        saved = torch.load(path, weights_only=True)
        nll, bound = saved["nll"], saved["bound"]
    except Exception:  # damaged: computed again
        return None
    buffer = io.BytesIO()
    torch.save({"nll": nll, "bound": bound}, buffer)
    write_checked(path, buffer.getvalue())
    return buffer.getvalue()


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    """Shape, dtype and raw bytes of a tensor: what makes two tensors the same for the cache."""
    flat = tensor.detach().cpu().reshape(-1).contiguous()
    return bytes(str((tuple(tensor.shape), tensor.dtype)), "utf-8") + flat.view(torch.uint8).numpy().tobytes()
