"""Which device a run trains on, and the settings that go with it.

``train.device=auto`` picks CUDA when there is a GPU, else Apple's MPS when there is one, else
the CPU. On CUDA, cuDNN may benchmark its convolution algorithms (``prepare_device``), and batches
read on the host travel through pinned memory with non-blocking copies (``pinned_copies``). On
MPS, the float64 arithmetic of likelihood bounds, FID statistics and diffusion schedules happens
on the CPU or in float32 (see ``models/precision.py`` and ``models/diffusion/schedules.py``), and
``train.precision=auto`` is fp32 (``models/precision.py``).
"""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.train.distributed import DistInfo

DEVICES = "auto, cpu, mps, cuda or cuda:N"


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def auto_device() -> str:
    """What ``train.device=auto`` stands for on this machine: cuda > mps > cpu."""
    if torch.cuda.is_available():
        return "cuda"
    if mps_available():
        return "mps"
    return "cpu"


def device_kind(name: str) -> str:
    """ "cuda" or "cpu", before any process group exists: torchrun's backend (nccl or gloo) depends on it."""
    if name == "auto":
        name = auto_device()
    return "cuda" if name.startswith("cuda") else "cpu"


def select_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        name = auto_device()
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
        if name == "cuda":
            name = f"cuda:{info.local_rank}"
    elif name == "mps":
        if not mps_available():
            raise UserError("train.device=mps but this machine has no usable MPS device; use train.device=cpu or auto")
        if info.enabled:
            raise UserError("torchrun has no backend for MPS devices; train on one process, or with train.device=cpu")
    elif name != "cpu":
        raise UserError(f"train.device must be {DEVICES}, got '{name}'")
    return torch.device(name)


def prepare_device(device: torch.device) -> None:
    """Settings for training on ``device``. On CUDA, cuDNN benchmarks the convolution algorithms
    for each input shape it meets and keeps the fastest. That pays here because a run's shapes
    are fixed: one batch size and one image size, so the full batches share one shape, and the
    last, smaller batch of an epoch and the evaluation batches add a handful more, each
    benchmarked once. The choice changes which kernels run, not what they compute beyond
    rounding; CUDA runs are not bit-reproducible anyway (atomic adds in cuDNN's backward
    passes), and nothing here touches the CPU, where a resumed run continues bit-exactly.

    The run's GPU also becomes the current one: work that names no device (the DataLoader's
    thread that pins batches) then goes to it, not to GPU 0, where a sweep worker on another
    GPU would otherwise open a context of its own."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if device.index is not None:
            torch.cuda.set_device(device)


def pinned_copies(device: torch.device) -> bool:
    """Whether batches read on the host should be pinned and copied without blocking: on CUDA,
    where a copy from pinned (page-locked) memory runs asynchronously, overlapping the
    previous step's kernels. (MPS shares memory with the CPU; the CPU needs no copy.)"""
    return device.type == "cuda"
