"""``pretrained:NAME`` as a run directory: a copy of a shipped model in the genimg cache.

Commands write under the run they are given (explore/, recover/, outliers/, eval/, judgements/)
and an installed package may be read-only, so ``pretrained:NAME`` resolves to a copy laid out
as a finished run::

    $GENIMG_CACHE/pretrained/<first 12 hex digits of the weights' SHA-256>/NAME/
      config.yaml, spec.json, summary.json, metrics.jsonl, samples.png ...   as shipped
      checkpoints/best/model.safetensors   (ema.safetensors when they are EMA weights) + manifest.json
      eval/metrics.json                    the shipped evaluation, until `genimg evaluate` replaces it
      pretrained.json                      which model this is: name, weights, SHA-256, command

Keyed by the weights' hash, so a later genimg with retrained weights never mixes its outputs with
an older model's, and named NAME, so reports and the studio label it by its name. On every use
each shipped file of the copy is checked against the index's SHA-256; one that is missing or
differs is restored from the package (whose bytes are checked too: a damaged installation is one
UserError), with a note. The shipped files are made read-only.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genimg.data.download import cache_dir
from genimg.errors import UserError
from genimg.io import atomic_path, dumps, read_json
from genimg.runs.checkpoint import MANIFEST
from genimg.runs.pretrained import PREFIX, WEIGHTS, PretrainedModel, is_pretrained, lookup, package_bytes

MARKER = "pretrained.json"
EVALUATION = "evaluation.json"
# Shipped files that commands may replace in the copy: written only where missing, never restored.
SEEDED = {EVALUATION: "eval/metrics.json"}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def resolve_run_path(path: str | Path) -> Path:
    """A run argument as a directory: ``pretrained:NAME`` becomes its cache copy; others are kept."""
    return pretrained_run(str(path)[len(PREFIX) :]) if is_pretrained(path) else Path(path)


def copy_dir(model: PretrainedModel) -> Path:
    return cache_dir() / "pretrained" / model.sha256[:12] / model.name


def placed(model: PretrainedModel, file: str) -> str:
    """Where a shipped file goes in the copy, relative to it."""
    if file == WEIGHTS:
        return f"checkpoints/best/{'ema' if model.weights == 'ema' else 'model'}.safetensors"
    return SEEDED.get(file, file)


def pretrained_run(name: str, note: Callable[[str], None] = _stderr) -> Path:
    """The checked (and if need be restored) cache copy of the shipped model ``name``."""
    model = lookup(name)
    root = copy_dir(model)
    restored = []
    for file, info in model.files.items():
        target = root / placed(model, file)
        if file in SEEDED:
            if not target.exists():
                _write(target, package_bytes(model, file), model, read_only=False)
        elif _sha256(target) != info["sha256"]:
            if target.exists():
                restored.append(placed(model, file))
            _write(target, package_bytes(model, file), model)
    for relative, data in _generated(model).items():
        target = root / relative
        if _read(target) != data:
            if target.exists():
                restored.append(relative)
            _write(target, data, model)
    if restored:
        note(f"note: restored {', '.join(restored)} in {root} from the package (they did not match its SHA-256)")
    return root


def pretrained_marker(run_path: str | Path) -> dict[str, Any] | None:
    """What ``pretrained.json`` in a run directory says (name, weights, command); None for a trained run."""
    marker = Path(run_path) / MARKER
    if not marker.exists():
        return None
    data = read_json(marker, "run the command again with pretrained:NAME, which restores it")
    return data if isinstance(data, dict) else None


def _generated(model: PretrainedModel) -> dict[str, bytes]:
    """The copy's files that the package does not hold as such: the checkpoint manifest and the marker."""
    weights = placed(model, WEIGHTS)
    info = {"sha256": model.sha256, "bytes": model.files[WEIGHTS]["bytes"]}
    kept = model.entry.get("kept") or {}
    manifest = {"format": 1, "files": {Path(weights).name: info}, "epoch": kept.get("epoch")}
    marker = {
        "name": model.name,
        "run": f"{PREFIX}{model.name}",
        "weights": model.weights,
        "sha256": model.sha256,
        "command": model.command,
    }
    text = {str(Path(weights).parent / MANIFEST): manifest, MARKER: marker}
    return {path: (dumps(obj, indent=2, sort_keys=True) + "\n").encode() for path, obj in text.items()}


def _sha256(path: Path) -> str | None:
    data = _read(path)
    return None if data is None else hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write(path: Path, data: bytes, model: PretrainedModel, read_only: bool = True) -> None:
    try:
        if path.exists():  # a read-only file is replaced by a rename, which Windows refuses without this
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        if read_only:
            os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    except (UserError, OSError) as err:
        why = str(err).split(";")[0]
        raise UserError(
            f"{why} (the copy of {PREFIX}{model.name}); set GENIMG_CACHE to a directory you can write to"
        ) from None
