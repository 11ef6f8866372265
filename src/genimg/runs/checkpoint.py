"""Checkpoints: weights in safetensors, everything else needed for an exact resume beside them.

    checkpoints/<which>/model.safetensors   the model's state dict
    checkpoints/<which>/ema.safetensors     the EMA copy, if any
    checkpoints/<which>/state.pt            optimiser states, RNG states, trainer counters
    checkpoints/<which>/manifest.json       each file's SHA-256 and size, the epoch and step

A checkpoint directory is written to a temporary sibling and swapped into place with two
renames (``<which>`` -> ``.<which>.old``, temporary -> ``<which>``), so a crash never leaves a
half-written checkpoint behind; a kill between the two renames leaves ``.<which>.old``, which
``settle`` puts back (and readers use in the meantime). Every file is read back against the
manifest, so a file damaged on disk (cut short, a flipped bit) is one UserError naming it,
never a traceback or silently different weights. Checkpoints written before manifests existed
are read unchecked. A write that fails (a full disk, no permission) leaves the previous
checkpoint as it was.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from genimg.errors import UserError
from genimg.io import read_json, write_bytes, write_error, write_json

MANIFEST = "manifest.json"
RETRAIN = "retrain the run (or use its other checkpoint: checkpoints/best or checkpoints/last)"


def _state_dict_for_safetensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage and non-contiguous tensors; clone to be safe.
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    ema_module: torch.nn.Module | None,
    state: dict[str, Any] | None,
    info: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint directory atomically; ``info`` (epoch, step) goes into its manifest."""
    directory = Path(directory)
    modules = {"model.safetensors": model, "ema.safetensors": ema_module}
    tmp = None
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        settle(directory)
        _remove_leftovers(directory)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        # Serialised in memory, then written by Python: a full disk is then an OSError (safetensors
        # and torch.save writing to a path raise their own error types), one file at a time.
        for name, module in modules.items():
            if module is not None:
                write_bytes(tmp / name, save_safetensors(_state_dict_for_safetensors(module)))
        if state is not None:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            write_bytes(tmp / "state.pt", buffer.getbuffer())
            del buffer
        files = {f.name: {"sha256": _sha256(f), "bytes": f.stat().st_size} for f in sorted(tmp.iterdir())}
        # Last: a temporary directory with a manifest is complete.
        write_json(tmp / MANIFEST, {"format": 1, "files": files, **(info or {})})
        old = _old(directory)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        kept = " (the previous checkpoint is intact)" if (directory.exists() or _old(directory).exists()) else ""
        raise UserError(f"{write_error(directory, err)}{kept}") from None
    except UserError as err:  # a write_bytes / write_json refusal, already one line
        kept = " (the previous checkpoint is intact)" if directory.exists() else ""
        raise UserError(f"{err}{kept}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _old(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}.old")


def settle(directory: Path) -> None:
    """Put back a checkpoint a kill left between the two renames of a swap (``.<which>.old``)."""
    directory = Path(directory)
    if not directory.exists() and _old(directory).is_dir():
        os.replace(_old(directory), directory)


def readable(directory: Path) -> Path:
    """The complete checkpoint for ``directory``: itself, or the ``.old`` one an interrupted swap left."""
    directory = Path(directory)
    return _old(directory) if not directory.exists() and _old(directory).is_dir() else directory


def _remove_leftovers(directory: Path) -> None:
    """Temporary directories of writes a kill interrupted, and an ``.old`` left after a finished swap."""
    for leftover in directory.parent.glob(f".{directory.name}.*"):
        if leftover.is_dir() and (leftover != _old(directory) or directory.exists()):
            shutil.rmtree(leftover, ignore_errors=True)


def checkpoint_info(directory: Path) -> dict[str, Any]:
    """The manifest's epoch and step (and files); {} for a checkpoint written without one."""
    manifest = readable(directory) / MANIFEST
    if not manifest.exists():
        return {}
    data = read_json(manifest, f"the checkpoint in {directory} cannot be trusted; {RETRAIN}")
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise UserError(f"{manifest} is not a checkpoint manifest; {RETRAIN}")
    return data


def read_checked(path: Path, hint: str = RETRAIN) -> bytes:
    """A checkpoint file's bytes, checked against the manifest beside it (when there is one)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"checkpoint file {path} is missing; was training interrupted before the first epoch ended? {hint}"
        ) from None
    except OSError as err:
        raise UserError(f"checkpoint file {path} is unreadable ({err.strerror}); {hint}") from None
    files = checkpoint_info(path.parent).get("files")
    if files is not None:
        entry = files.get(path.name)
        if not isinstance(entry, dict) or entry.get("sha256") != hashlib.sha256(data).hexdigest():
            why = "not listed in" if not isinstance(entry, dict) else "does not match its SHA-256 in"
            raise UserError(f"checkpoint file {path} is damaged ({why} {MANIFEST}); {hint}")
    return data


def load_weights(module: torch.nn.Module, path: Path, hint: str = RETRAIN) -> None:
    data = read_checked(path, hint)
    try:
        weights = load_safetensors(data)
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise UserError(f"checkpoint file {path} is unreadable ({str(e)[:100]}); {hint}") from None
    try:
        module.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)[:100]
        raise UserError(
            f"checkpoint file {path} does not fit the model that config.yaml and spec.json describe ({first}); {hint}"
        ) from None


def load_state(path: Path, hint: str = RETRAIN) -> dict[str, Any]:
    data = read_checked(path, hint)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on a damaged file (pickle, zip, EOF, ...)
        raise UserError(f"checkpoint file {path} is unreadable ({type(e).__name__}); {hint}") from None
    if not isinstance(state, dict):
        raise UserError(f"checkpoint file {path} does not hold a training state; {hint}")
    return state
