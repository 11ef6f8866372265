"""The classifier cache: trained once per config, read back checked, one trainer at a time.

``default_classifier`` answers first from the classifiers shipped in the package (``shipped.py``)
and trains into the cache only for a config none of them was made with, or when asked to.

An entry is ``info.json`` (written last, with the weights' SHA-256) beside ``model.safetensors``.
An entry that is damaged (unreadable info, weights cut short or altered, another config's) is a
cache miss: the classifier is trained again and the entry rewritten, with a note; never fatal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genimg.config.fields import build_dataclass
from genimg.errors import UserError
from genimg.evaluate.classifier.config import ClassifierConfig, Recipe
from genimg.evaluate.classifier.network import ClassifierNet, DatasetClassifier
from genimg.evaluate.classifier.shipped import prefer_shipped, shipped_classifier
from genimg.evaluate.classifier.training import data_fingerprint, load_splits, train_classifier
from genimg.evaluate.extractor import cache_root, sha256_of_file
from genimg.io import atomic_path, exclusive_lock, read_json, write_errors, write_json

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
    classifier = _intact_entry(directory, config)
    if classifier is None:
        with write_errors(directory):
            directory.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(directory / ".lock"):
            classifier = _intact_entry(directory, config)  # another process may have finished meanwhile
            if classifier is None:
                if (directory / INFO_FILE).exists():
                    print(f"note: the cached classifier in {directory} is damaged; training it again", file=sys.stderr)
                    (directory / INFO_FILE).unlink()  # the entry is incomplete until info.json is back
                net, recipe, info = train_classifier(config, device=device, progress=progress)
                save_entry(directory, net, info)
                classifier = load_entry(directory, config)
    return classifier.to(device)


def _intact_entry(directory: Path, config: ClassifierConfig) -> DatasetClassifier | None:
    """The cached classifier, or None if there is no complete, undamaged entry for ``config``."""
    if not (directory / INFO_FILE).exists():
        return None
    try:
        return load_entry(directory, config)
    except UserError:
        return None


def default_classifier(
    dataset: str = "digits",
    *,
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    shipped: bool | None = None,
    **config_fields: Any,
) -> DatasetClassifier:
    """The dataset's classifier for ``config_fields``: the one shipped in the package where it was
    made with that config (the dataset's defaults), else trained once and read from the cache.

    ``shipped=False`` (or ``GENIMG_CLASSIFIER=train``; ``shipped=None`` reads it) always trains here.
    """
    config = build_dataclass(ClassifierConfig, {"dataset": dataset, **config_fields}, "classifier")
    if prefer_shipped(shipped):
        classifier = shipped_classifier(config)
        if classifier is not None:
            return classifier.to(device)
    return load_or_train_classifier(config, cache_dir=cache_dir, device=device, progress=progress)


def classifier_extractor(
    dataset: str, *, cache_dir=None, device="cpu", progress: bool = True, shipped: bool | None = None, **config_fields
):
    return default_classifier(
        dataset, cache_dir=cache_dir, device=device, progress=progress, shipped=shipped, **config_fields
    )


def save_entry(directory: Path, net: ClassifierNet, info: dict[str, Any]) -> None:
    weights = directory / WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    write_json(directory / INFO_FILE, {**info, "weights_file": WEIGHTS_FILE, "weights_sha256": sha256_of_file(weights)})


def load_entry(directory: Path, config: ClassifierConfig) -> DatasetClassifier:
    """The classifier in a cache entry, checked; a UserError naming the damaged file otherwise."""
    fix = f"delete {directory} to retrain the classifier"
    info = read_json(directory / INFO_FILE, fix)
    if not isinstance(info, dict):
        raise UserError(f"{directory / INFO_FILE} is not a classifier record; {fix}")
    weights = directory / str(info.get("weights_file", WEIGHTS_FILE))
    try:
        digest = sha256_of_file(weights)
    except OSError:
        digest = None
    if digest is None or digest != info.get("weights_sha256"):
        raise UserError(f"classifier weights {weights} are missing or do not match the sha256 in {INFO_FILE}; {fix}")
    if info.get("config_hash") != config.hash():
        raise UserError(f"{directory} holds a classifier for another config; {fix}")
    try:
        recipe = Recipe.from_dict(info["recipe"])
        with torch.random.fork_rng(devices=[]):  # the random init is overwritten; leave the caller's RNG alone
            net = ClassifierNet.from_recipe(recipe)
        net.load_state_dict(load_file(str(weights)))
    except Exception as e:  # a record that parses but does not describe these weights
        raise UserError(f"{directory / INFO_FILE} does not describe {weights} ({type(e).__name__}); {fix}") from None
    return DatasetClassifier(net, config, recipe, info)
