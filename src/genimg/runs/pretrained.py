"""The pretrained models shipped inside the package: their index, read and checked.

``genimg/pretrained/index.json`` names each model and says what it is made of::

    {"format": 1, "models": {"vae-digits": {
        "family": "vae", "dataset": "digits",
        "weights": "raw" or "ema",        which weights model.safetensors holds (EMA where the run kept one)
        "files": {"model.safetensors": {"sha256": ..., "bytes": ...}, "config.yaml": {...}, ...},
        "test": {"fid": ..., "fid_floor": ..., "nll_iw_bpd": ...},    figures of the shipped weights
        "command": "genimg train vae threads=1 device=cpu ...",       what retrains it bit for bit
        "overrides": [...],               that command's key=value overrides
        "prefix": {"epochs": 2, "sha256": ...},   the same recipe stopped early (tests/test_pretrained_reproduce.py)
        "made_with": {"torch": ..., "cpu_capability": ..., "machine": ...}, ...}}}

Each model's folder beside the index holds ``model.safetensors``, ``config.yaml``,
``spec.json``, ``summary.json`` and the pictures and records of the run it came from. A file's
bytes are trusted only once they match the index's SHA-256 (``package_bytes``); the copy that
commands use is made by ``runs/pretrained_copy.py``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genimg.errors import UserError

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+ (importlib.abc before); only type checkers read this
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

PREFIX = "pretrained:"
INDEX = "index.json"
WEIGHTS = "model.safetensors"
WEIGHT_KINDS = ("raw", "ema")
REINSTALL = (
    "reinstall genimg (pip install --force-reinstall genimg; in a source checkout, restore src/genimg/pretrained)"
)
# Names become directory and file names in the cache: nothing that could climb out of it.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PretrainedModel:
    """One shipped model, as the index describes it."""

    name: str
    family: str
    dataset: str
    weights: str  # "raw" or "ema"
    files: dict[str, dict[str, Any]]  # file name -> {"sha256", "bytes"}
    entry: dict[str, Any] = field(repr=False)  # the whole index entry: test figures, command, prefix, ...

    @property
    def sha256(self) -> str:
        """The SHA-256 of the weights: the model's identity."""
        return self.files[WEIGHTS]["sha256"]

    @property
    def total_bytes(self) -> int:
        return sum(int(f["bytes"]) for f in self.files.values())

    @property
    def test(self) -> dict[str, Any]:
        return dict(self.entry.get("test") or {})

    @property
    def command(self) -> str:
        return str(self.entry.get("command", ""))


def is_pretrained(path: str | Path) -> bool:
    """Whether a run argument names a shipped model (``pretrained:NAME``)."""
    return str(path).startswith(PREFIX)


def data_root() -> Traversable:
    """The folder of shipped models inside the installed package (or the source tree)."""
    return importlib.resources.files("genimg.pretrained")


def read_index() -> dict[str, PretrainedModel]:
    """Every shipped model by name; {} when none is shipped. A damaged index is one UserError."""
    index_file = data_root().joinpath(INDEX)
    if not index_file.is_file():
        return {}
    try:
        data = json.loads(index_file.read_bytes().decode("utf-8"))
        models = data["models"]
        if data.get("format") != 1 or not isinstance(models, dict):
            raise ValueError("not a format-1 index")
        return {name: _model(name, entry) for name, entry in sorted(models.items())}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        why = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        raise UserError(f"genimg's index of pretrained models ({INDEX}) is damaged ({why}); {REINSTALL}") from None


def _model(name: str, entry: dict[str, Any]) -> PretrainedModel:
    files = entry["files"]
    if not _SAFE_NAME.match(name) or not isinstance(files, dict) or WEIGHTS not in files:
        raise ValueError(f"bad entry {name!r}")
    for file, info in files.items():
        if not _SAFE_NAME.match(file) or not _SHA256.match(str(info["sha256"])) or int(info["bytes"]) < 0:
            raise ValueError(f"bad file entry {name}/{file}")
    if entry["weights"] not in WEIGHT_KINDS:
        raise ValueError(f"{name}: weights must be one of {WEIGHT_KINDS}")
    return PretrainedModel(name, str(entry["family"]), str(entry["dataset"]), entry["weights"], files, entry)


def lookup(name: str) -> PretrainedModel:
    """The shipped model called ``name``; an unknown name is one UserError listing the valid ones."""
    models = read_index()
    if name in models:
        return models[name]
    choices = ", ".join(f"{PREFIX}{n}" for n in models) or "none (this installation ships no pretrained models)"
    raise UserError(f"unknown pretrained model '{name}'; choose one of {choices} (`genimg pretrained` lists them)")


def package_bytes(model: PretrainedModel, file: str) -> bytes:
    """A shipped file's bytes, checked against the index's SHA-256."""
    where = f"{model.name}/{file}"
    try:
        data = data_root().joinpath(model.name).joinpath(file).read_bytes()
    except OSError as err:
        why = "missing" if isinstance(err, FileNotFoundError) else f"unreadable ({err.strerror or err})"
        raise UserError(f"genimg's pretrained file {where} is {why}; {REINSTALL}") from None
    if hashlib.sha256(data).hexdigest() != model.files[file]["sha256"]:
        raise UserError(
            f"genimg's pretrained file {where} is damaged (it does not match its SHA-256 in {INDEX}); {REINSTALL}"
        )
    return data


def check_package(model: PretrainedModel) -> None:
    """Read every shipped file of ``model`` against the index (a damaged one is one UserError)."""
    for file in model.files:
        package_bytes(model, file)
