"""The dataset classifiers shipped inside the package: one FID feature space for everyone.

Training a classifier is seeded and deterministic on one machine, but not bit for bit the same
across CPUs: AVX2 and AVX-512 kernels round differently, the weights come out different, and
FID/floor moves by 6-10% with them (issue 22 measured 98.6% test accuracy on an AVX2-only CPU
against 98.8% here on the MNIST sample). So the default classifier of each built-in dataset is
shipped, like the pretrained models, and every machine scores through the same weights::

    genimg/pretrained/classifiers/
      index.json          {"format": 1, "classifiers": {"digits": {
                            "file": "digits.safetensors", "sha256": ..., "bytes": ...,
                            "extractor": "classifier-digits-36d958ecadd9",   the id every score records
                            "test_accuracy": ...,
                            "command": "python benchmarks/reproduce_classifiers.py check digits",
                            "record": {...},   the cache entry's info.json: config, recipe, accuracies, data hash
                            "made_with": {"torch": ..., "cpu_capability": ..., ...}}}}
      digits.safetensors  the weights, byte for byte the cache entry ``train_classifier`` wrote

A shipped classifier answers a request for its dataset's default config (the config hash in its
record); any other config (``epochs=``, ``seed=``, ``image_size=``) and any other dataset is
trained on this machine and cached as before. ``GENIMG_CLASSIFIER=train`` (or ``shipped=False``
in the library) trains the default one here too. The weights are trusted only once they match
the index's SHA-256, and the index's extractor id must be the one they give: a damaged file is
one UserError naming it and the fix. ``benchmarks/reproduce_classifiers.py`` ships and checks them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load as load_safetensors

from genimg.errors import UserError
from genimg.evaluate.classifier.config import ClassifierConfig, Recipe
from genimg.evaluate.classifier.network import ClassifierNet, DatasetClassifier
from genimg.runs.pretrained import REINSTALL, data_root

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+ (importlib.abc before); only type checkers read this
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

FOLDER = "classifiers"
INDEX = "index.json"
ENV = "GENIMG_CLASSIFIER"
CHOICES = ("shipped", "train")  # shipped: the package's classifier where one exists; train: this machine's
TRAIN_HERE = f"or set {ENV}=train to train the classifier on this machine"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def shipped_root() -> Traversable:
    """The folder of shipped classifiers inside the installed package (or the source tree)."""
    return data_root().joinpath(FOLDER)


def prefer_shipped(shipped: bool | None = None) -> bool:
    """Whether to use a shipped classifier: ``shipped`` if given, else ``$GENIMG_CLASSIFIER`` (default shipped)."""
    if shipped is not None:
        return shipped
    choice = os.environ.get(ENV, "shipped").strip().lower() or "shipped"
    if choice not in CHOICES:
        raise UserError(f"{ENV}={choice!r} is not one of {', '.join(CHOICES)}; unset it to use the shipped classifiers")
    return choice == "shipped"


def read_shipped_index() -> dict[str, dict[str, Any]]:
    """Every shipped classifier's entry by dataset name; {} when none is shipped. A damaged index is one UserError."""
    index_file = shipped_root().joinpath(INDEX)
    if not index_file.is_file():
        return {}
    try:
        data = json.loads(index_file.read_bytes().decode("utf-8"))
        entries = data["classifiers"]
        if data.get("format") != 1 or not isinstance(entries, dict):
            raise ValueError("not a format-1 index")
        for dataset, entry in entries.items():
            _check_entry(dataset, entry)
        return dict(sorted(entries.items()))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        why = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        raise UserError(
            f"genimg's index of shipped classifiers ({FOLDER}/{INDEX}) is damaged ({why}); {REINSTALL}"
        ) from None


def _check_entry(dataset: str, entry: dict[str, Any]) -> None:
    if not _SAFE_NAME.match(str(entry["file"])) or not _SHA256.match(str(entry["sha256"])):
        raise ValueError(f"bad entry {dataset!r}")
    record = entry["record"]
    if record["config"]["dataset"] != dataset or not isinstance(record["config_hash"], str):
        raise ValueError(f"entry {dataset!r} records another dataset's classifier")


def shipped_classifier(config: ClassifierConfig) -> DatasetClassifier | None:
    """The shipped classifier ``config`` describes, checked; None when none is shipped for it."""
    entry = read_shipped_index().get(config.dataset)
    if entry is None or entry["record"]["config_hash"] != config.hash():
        return None
    return load_shipped(config, entry)


def load_shipped(config: ClassifierConfig, entry: dict[str, Any]) -> DatasetClassifier:
    """The classifier in a shipped entry; its weights checked against the index's SHA-256 and extractor id."""
    where = f"{FOLDER}/{entry['file']}"
    try:
        data = shipped_root().joinpath(entry["file"]).read_bytes()
    except OSError as err:
        why = "missing" if isinstance(err, FileNotFoundError) else f"unreadable ({err.strerror or err})"
        raise UserError(f"genimg's shipped classifier {where} is {why}; {REINSTALL}, {TRAIN_HERE}") from None
    damaged = UserError(
        f"genimg's shipped classifier {where} is damaged (it does not match its SHA-256 in {FOLDER}/{INDEX}); "
        f"{REINSTALL}, {TRAIN_HERE}"
    )
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise damaged
    record = entry["record"]
    info = {**record, "weights_file": entry["file"], "weights_sha256": entry["sha256"], "source": "shipped"}
    try:
        recipe = Recipe.from_dict(record["recipe"])
        with torch.random.fork_rng(devices=[]):  # the random init is overwritten; leave the caller's RNG alone
            net = ClassifierNet.from_recipe(recipe)
        net.load_state_dict(load_safetensors(data))
    except Exception:  # a record that does not describe these weights
        raise damaged from None
    classifier = DatasetClassifier(net, config, recipe, info)
    if classifier.extractor_id() != entry["extractor"]:
        raise UserError(
            f"genimg's shipped classifier {where} does not give the extractor id {entry['extractor']} that "
            f"{FOLDER}/{INDEX} records; {REINSTALL}, {TRAIN_HERE}"
        )
    return classifier
