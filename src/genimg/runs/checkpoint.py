"""Checkpoints: weights in safetensors, everything else needed for an exact resume beside them.

    checkpoints/<which>/model.safetensors   the model's state dict
    checkpoints/<which>/ema.safetensors     the EMA copy, if any
    checkpoints/<which>/state.pt            optimiser states, RNG states, trainer counters

A checkpoint directory is written to a temporary sibling and renamed into place, so a crash
never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genimg.errors import UserError


def _state_dict_for_safetensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage and non-contiguous tensors; clone to be safe.
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    ema_module: torch.nn.Module | None,
    state: dict[str, Any] | None,
) -> None:
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        save_file(_state_dict_for_safetensors(model), str(tmp / "model.safetensors"))
        if ema_module is not None:
            save_file(_state_dict_for_safetensors(ema_module), str(tmp / "ema.safetensors"))
        if state is not None:
            torch.save(state, tmp / "state.pt")
        old = directory.with_name(f".{directory.name}.old")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_weights(module: torch.nn.Module, path: Path) -> None:
    try:
        weights = load_file(str(path), device="cpu")
    except FileNotFoundError:
        raise UserError(f"checkpoint file {path} is missing; was training interrupted before the first epoch ended?") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise UserError(f"checkpoint file {path} is unreadable ({e}); retrain or resume from another run") from None
    module.load_state_dict(weights)


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"no resumable state at {path}; the run has not finished an epoch yet") from None
