"""The dataset classifiers shipped inside the package: checked on load, used by default, never retrained."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from genimg.config.run_config import DataConfig
from genimg.data import load_dataset
from genimg.errors import UserError
from genimg.evaluate.classifier import ClassifierConfig, default_classifier, read_shipped_index, shipped
from genimg.evaluate.classifier import cache as classifier_cache
from genimg.evaluate.evaluator import evaluate_run, extractor_for
from genimg.evaluate.features import get_extractor
from genimg.runs.pretrained_copy import pretrained_run

SHIPPED = read_shipped_index()
# The features of the first 16 digits of the test split through the shipped digits classifier, in
# one batch, one thread: their SHA-256 (float32 bytes) where the weights were made, and each image's
# feature sum, which another CPU's kernels reproduce to about 1e-7 (AVX2 against AVX-512 differ in
# the last bits of a feature, not in the printed digits of a score).
DIGITS_FEATURES_SHA256 = "c4dc415a49a051e7d80c89ba7c8857cf9d4373d91bbf897bc7fadffd163d11de"
DIGITS_FEATURE_SUMS = [
    38.75933, 38.012037, 41.393066, 41.489639, 44.786085, 42.843963, 38.558906, 36.204538,
    33.051599, 35.524231, 41.54799, 35.181084, 34.177516, 37.701443, 34.798417, 36.321411,
]  # fmt: skip


class Trained(Exception):
    """Raised by the stand-in trainer: the code asked for a classifier to be trained."""


@pytest.fixture(autouse=True)
def no_training(monkeypatch, tmp_path):
    """Training a classifier is a failure here unless a test expects it (then it raises Trained).
    An empty cache of its own, so a classifier another test trained cannot stand in for training."""
    monkeypatch.setenv("GENIMG_CACHE", str(tmp_path / "genimg-cache"))

    def refuse(*args, **kwargs):
        raise Trained

    monkeypatch.setattr(classifier_cache, "train_classifier", refuse)
    monkeypatch.delenv(shipped.ENV, raising=False)


@pytest.fixture
def damaged_copy(tmp_path, monkeypatch):
    """A copy of the shipped classifiers that the loader reads instead of the package's."""
    copy = tmp_path / "classifiers"
    shutil.copytree(Path(str(shipped.shipped_root())), copy)
    monkeypatch.setattr(shipped, "shipped_root", lambda: copy)
    return copy


def test_digits_and_mnist_sample_are_shipped_small_and_whole():
    assert {"digits", "mnist-sample"} <= set(SHIPPED)
    root = Path(str(shipped.shipped_root()))
    assert {p.name for p in root.iterdir()} == {shipped.INDEX} | {e["file"] for e in SHIPPED.values()}
    for name, entry in SHIPPED.items():
        assert entry["record"]["config_hash"] == ClassifierConfig(dataset=name).hash(), (
            f"the default {name} classifier config changed: ship it again "
            f"(python benchmarks/reproduce_classifiers.py ship {name})"
        )
        data = (root / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        assert entry["command"] == f"python benchmarks/reproduce_classifiers.py check {name}"
        assert entry["extractor"].startswith(f"classifier-{name}-") and entry["test_accuracy"] >= 0.97
        assert entry["record"]["test_accuracy"] == entry["test_accuracy"]
    # small CNNs: float32 weights, 0.27 MB (8x8 digits) and 1.9 MB (28x28, with its dense layer)
    assert sum(e["bytes"] for e in SHIPPED.values()) < 2.5e6


@pytest.mark.parametrize("dataset", ["digits", "mnist-sample"])
def test_the_default_extractor_is_the_shipped_one_and_nothing_trains(dataset):
    extractor = get_extractor("classifier", dataset)
    assert extractor.extractor_id() == SHIPPED[dataset]["extractor"]
    assert extractor.info["source"] == "shipped" and extractor.test_accuracy == SHIPPED[dataset]["test_accuracy"]
    assert extractor_for(DataConfig(dataset=dataset)).extractor_id() == SHIPPED[dataset]["extractor"]
    assert default_classifier(dataset, shipped=True).extractor_id() == SHIPPED[dataset]["extractor"]


def test_a_score_records_the_shipped_extractor():
    run = pretrained_run("vae-digits", note=lambda text: None)
    result = evaluate_run(
        run, n=100, seeds=1, metrics=("fid",), floor_subsets=1, write=False, progress=False, log=lambda text: None
    )
    assert result["extractor"] == SHIPPED["digits"]["extractor"]
    assert result["extractor_identity"]["weights_sha256"] == SHIPPED["digits"]["sha256"]


def test_other_configs_datasets_and_the_opt_in_train_here(monkeypatch):
    with pytest.raises(Trained):
        default_classifier("digits", epochs=1)  # not the config the shipped one was made with
    with pytest.raises(Trained):
        default_classifier("digits", shipped=False)
    monkeypatch.setenv(shipped.ENV, "train")
    with pytest.raises(Trained):
        get_extractor("classifier", "digits")
    monkeypatch.setenv(shipped.ENV, "shiped")
    with pytest.raises(UserError, match="GENIMG_CLASSIFIER='shiped' is not one of shipped, train"):
        get_extractor("classifier", "digits")


def test_shipped_digits_features_match_the_stored_checksum():
    extractor = get_extractor("classifier", "digits")
    features = extractor.features(load_dataset("digits", "test", limit=16).images)
    torch.testing.assert_close(
        features.double().sum(dim=1), torch.tensor(DIGITS_FEATURE_SUMS, dtype=torch.float64), rtol=1e-6, atol=0
    )
    made = SHIPPED["digits"]["made_with"]
    if (made["torch"], made["cpu_capability"]) == (torch.__version__, torch.backends.cpu.get_cpu_capability()):
        assert hashlib.sha256(features.numpy().tobytes()).hexdigest() == DIGITS_FEATURES_SHA256


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda path: path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8), "is damaged"),
        (lambda path: path.unlink(), "is missing"),
    ],
)
def test_a_damaged_shipped_file_is_one_line_naming_it_and_the_fix(damaged_copy, damage, problem):
    damage(damaged_copy / "digits.safetensors")
    with pytest.raises(UserError) as caught:
        get_extractor("classifier", "digits")
    message = str(caught.value)
    assert "\n" not in message and f"classifiers/digits.safetensors {problem}" in message
    assert "reinstall genimg" in message and "GENIMG_CLASSIFIER=train" in message
    with pytest.raises(Trained):  # the fix the message offers works
        get_extractor("classifier", "digits", shipped=False)


def test_a_damaged_index_is_one_line(damaged_copy):
    index = json.loads((damaged_copy / "index.json").read_text())
    index["classifiers"]["digits"]["record"]["config"]["dataset"] = "mnist-sample"
    (damaged_copy / "index.json").write_text(json.dumps(index))
    with pytest.raises(UserError, match=r"index of shipped classifiers \(classifiers/index.json\) is damaged"):
        get_extractor("classifier", "digits")
    (damaged_copy / "index.json").write_text(json.dumps({"format": 1, "classifiers": {}}))
    with pytest.raises(Trained):  # nothing shipped: trained here, as for any other dataset
        get_extractor("classifier", "digits")
