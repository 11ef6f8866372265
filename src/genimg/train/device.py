"""Which device a run trains on: train.device=auto picks CUDA when there is one."""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.train.distributed import DistInfo


def device_kind(name: str) -> str:
    """ "cuda" or "cpu", before any process group exists (torchrun's backend depends on it)."""
    return "cuda" if name.startswith("cuda") or (name == "auto" and torch.cuda.is_available()) else "cpu"


def select_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
        if name == "cuda":
            name = f"cuda:{info.local_rank}"
    elif name != "cpu":
        raise UserError(f"train.device must be auto, cpu, cuda or cuda:N, got '{name}'")
    return torch.device(name)
