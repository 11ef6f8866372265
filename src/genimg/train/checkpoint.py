"""Checkpoints: weights in safetensors, everything else needed for an exact resume beside them.

    checkpoints/<which>/model.safetensors   the model's state dict
    checkpoints/<which>/ema.safetensors     the EMA copy, if any
    checkpoints/<which>/state.pt            optimiser states, RNG states, trainer counters

A checkpoint directory is written to a temporary sibling and renamed into place, so a crash
never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from genimg.errors import UserError


def _state_dict_for_safetensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage and non-contiguous tensors; clone to be safe.
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "generators": {k: g.get_state() for k, g in generators.items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuple(state["python"]))
    np.random.set_state(_numpy_state_from_plain(state["numpy"]))
    for k, g in generators.items():
        g.set_state(state["generators"][k])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_to_plain(s: tuple) -> list:
    return [s[0], torch.from_numpy(s[1].astype(np.int64)), int(s[2]), int(s[3]), float(s[4])]


def _numpy_state_from_plain(s: list) -> tuple:
    return (s[0], s[1].numpy().astype(np.uint32), s[2], s[3], s[4])


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(i) for i in x) if isinstance(x, (list, tuple)) else x


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
