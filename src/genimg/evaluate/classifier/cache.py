"""The classifier cache: trained once per config, read back checked, one trainer at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genimg.config.fields import build_dataclass
from genimg.errors import UserError
from genimg.evaluate.classifier.config import ClassifierConfig, Recipe
from genimg.evaluate.classifier.network import ClassifierNet, DatasetClassifier
from genimg.evaluate.classifier.training import data_fingerprint, load_splits, train_classifier
from genimg.evaluate.extractor import cache_root, sha256_of_file
from genimg.io import atomic_path, exclusive_lock, write_json

WEIGHTS_FILE = "model.safetensors"
INFO_FILE = "info.json"


def classifier_dir(config: ClassifierConfig, cache_dir: str | Path | None = None) -> Path:
    """Where the classifier ``config`` describes is cached.

    Built-in datasets are fixed (checksummed downloads, bundled digits), so their name is
    enough; a user's ``folder:PATH`` or ``npz:PATH`` can change under the same name, so the
    sha256 of its images is part of the key (this loads the data, which those loaders cache).
    """
    name = config.cache_name()
    if ":" in config.dataset:
        name += "-data" + data_fingerprint(load_splits(config))[:12]
    return cache_root(cache_dir) / "classifiers" / name


def load_or_train_classifier(
    config: ClassifierConfig,
    *,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> DatasetClassifier:
    """The classifier ``config`` describes, from the cache, training and caching it on first use.

    ``info.json`` is written last and atomically, so its presence means the entry is complete.
    A lock file makes a second process that asks for the same classifier wait for the first
    one's training and then read its result, instead of training it again.
    """
    directory = classifier_dir(config, cache_dir)
    if not (directory / INFO_FILE).exists():
        directory.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(directory / ".lock"):
            if not (directory / INFO_FILE).exists():  # another process may have finished meanwhile
                net, recipe, info = train_classifier(config, device=device, progress=progress)
                save_entry(directory, net, info)
    return load_entry(directory, config).to(device)


def default_classifier(
    dataset: str = "digits",
    *,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    **config_fields: Any,
) -> DatasetClassifier:
    """The dataset's default classifier (trained once, then read from the cache)."""
    config = build_dataclass(ClassifierConfig, {"dataset": dataset, **config_fields}, "classifier")
    return load_or_train_classifier(config, cache_dir=cache_dir, device=device, progress=progress)


def classifier_extractor(dataset: str, *, cache_dir=None, device="cpu", progress: bool = True, **config_fields):
    return default_classifier(dataset, cache_dir=cache_dir, device=device, progress=progress, **config_fields)


def save_entry(directory: Path, net: ClassifierNet, info: dict[str, Any]) -> None:
    weights = directory / WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    write_json(directory / INFO_FILE, {**info, "weights_file": WEIGHTS_FILE, "weights_sha256": sha256_of_file(weights)})


def load_entry(directory: Path, config: ClassifierConfig) -> DatasetClassifier:
    try:
        info = json.loads((directory / INFO_FILE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(
            f"cannot read {directory / INFO_FILE} ({e}); delete {directory} to retrain the classifier"
        ) from None
    weights = directory / info.get("weights_file", WEIGHTS_FILE)
    if not weights.exists() or sha256_of_file(weights) != info.get("weights_sha256"):
        raise UserError(
            f"classifier weights {weights} are missing or do not match the sha256 in {INFO_FILE}; "
            f"delete {directory} to retrain the classifier"
        )
    if info.get("config_hash") != config.hash():
        raise UserError(f"{directory} holds a classifier for another config; delete {directory} to retrain it")
    recipe = Recipe.from_dict(info["recipe"])
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten; leave the caller's RNG alone
        net = ClassifierNet.from_recipe(recipe)
    net.load_state_dict(load_file(str(weights)))
    return DatasetClassifier(net, config, recipe, info)
