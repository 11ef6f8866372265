"""MNIST, Fashion-MNIST and CIFAR-10: downloaded once with checksums, or read from a local directory.

Splits (fixed, in the files' own order; no shuffling, so they match the usual protocol):

    mnist, fashion-mnist   train = first 50,000 of the official training set,
                           val = its last 10,000, test = the official 10,000 test images
    cifar10                train = first 45,000 of data_batch_1..5 (in that order),
                           val = their last 5,000, test = test_batch

All are 8-bit images (``levels=256``) scaled by 1/255 into float32 [0, 1], NCHW:
1x28x28 for the MNISTs, 3x32x32 for CIFAR-10.

Where the files come from:
- ``root=DIR`` (``data.root=DIR``): read from DIR, never from the network. MNIST-style
  files may be gzipped or not (``train-images-idx3-ubyte.gz`` or ``train-images-idx3-ubyte``)
  and may sit in DIR, DIR/<name>, or torchvision's DIR/MNIST/raw, DIR/FashionMNIST/raw.
  CIFAR-10 is read from ``cifar-10-batches-py/`` (or DIR itself holding ``data_batch_1``...)
  or from ``cifar-10-python.tar.gz``, whose members are read in place: nothing is extracted.
- otherwise: downloaded into the cache (``$GENIMG_CACHE``, default ``~/.cache/genimg``) from
  the mirrors in ``MIRRORS`` (overridable with ``GENIMG_MIRROR_MNIST``,
  ``GENIMG_MIRROR_FASHION_MNIST``, ``GENIMG_MIRROR_CIFAR10``: base URLs separated by
  commas or spaces), each file checked against the SHA-256 in ``CHECKSUMS``.

The SHA-256 digests are those published in TensorFlow Datasets' checksum files (MNIST,
Fashion-MNIST) and Keras' ``cifar10.load_data`` (CIFAR-10); they agree with the MD5s that
torchvision lists for the same files.

CIFAR-10 batches are Python pickles. They are read with an unpickler that only rebuilds
NumPy arrays, so a tampered file cannot run code (``cifar_batches.py``).

Decoded arrays are cached as ``.npz`` beside the downloads, so a second load skips the
decompression; each entry carries its SHA-256, and a damaged one is decoded again. A damaged
source file (cut short, garbled, a bad gzip checksum) is one UserError naming it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from genimg.data.cifar_batches import CIFAR_FOLDER, CIFAR_TARBALL, read_cifar
from genimg.data.dataset import ImageDataset
from genimg.data.download import cache_dir, fetch
from genimg.errors import UserError
from genimg.io import read_checked, write_checked

MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # the mirror torchvision uses
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # the one TensorFlow uses
        "http://yann.lecun.com/exdb/mnist/",  # the original home
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando Research's bucket
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}

CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "cifar10": {
        "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    },
}

# How many images at the end of the official training set form the validation split.
VALIDATION_SIZE = {"mnist": 10_000, "fashion-mnist": 10_000, "cifar10": 5_000}

CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    "cifar10": [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
}

IDX_FILES = {  # official part -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


DECODED_FORMAT_VERSION = 2  # bump when the decoded cache's content changes (2: checked entries)


# ---------------------------------------------------------------------------- loaders


def load_mnist(split: str, *, root=None, image_size=None) -> ImageDataset:
    return _load_standard("mnist", split, root)


def load_fashion_mnist(split: str, *, root=None, image_size=None) -> ImageDataset:
    return _load_standard("fashion-mnist", split, root)


def load_cifar10(split: str, *, root=None, image_size=None) -> ImageDataset:
    return _load_standard("cifar10", split, root)


def _load_standard(name: str, split: str, root: str | os.PathLike | None) -> ImageDataset:
    part = "test" if split == "test" else "train"
    images, labels, source = _decoded(name, part, root)
    if part == "train":
        n_val = VALIDATION_SIZE[name]
        if len(images) <= n_val:
            raise UserError(
                f"{name}: the training set at {source} has {len(images)} images, too few to hold out "
                f"{n_val} for validation; use the complete official files"
            )
        keep = slice(0, len(images) - n_val) if split == "train" else slice(len(images) - n_val, None)
        images, labels = images[keep], labels[keep]
    x = torch.from_numpy(images.astype(np.float32)).div_(255.0)  # astype copies: the source may be read-only
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return ImageDataset(
        name=name,
        split=split,
        images=x,
        labels=torch.from_numpy(labels.astype(np.int64)),
        num_classes=10,
        levels=256,
        class_names=list(CLASS_NAMES[name]),
        source=str(source),
    )


def _decoded(name: str, part: str, root) -> tuple[np.ndarray, np.ndarray, Path]:
    """uint8 images and labels of an official part ("train" or "test"), via the decoded cache."""
    sources = _locate_idx(name, part, root) if name in TORCHVISION_FOLDERS else [_locate_cifar(root)]
    identity = [DECODED_FORMAT_VERSION, name, part] + [
        (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in sources
    ]
    key = hashlib.sha256(repr(identity).encode()).hexdigest()[:16]
    cached = cache_dir() / "decoded" / f"{name}-{part}-{key}.npz"
    payload = read_checked(cached)
    if payload is not None:  # None: missing, or damaged and so decoded again, never trusted
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            return arrays["images"], arrays["labels"], sources[0]
    if name in TORCHVISION_FOLDERS:
        images, labels = read_idx_pair(*sources)
    else:
        images, labels = read_cifar(sources[0], part)
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels)
    write_checked(cached, buffer.getvalue())
    return images, labels, sources[0]


# ---------------------------------------------------------------------------- finding the files


def mirrors(name: str) -> list[str]:
    """Base URLs for ``name``: ``$GENIMG_MIRROR_<NAME>`` if set, else ``MIRRORS[name]``."""
    override = os.environ.get("GENIMG_MIRROR_" + name.upper().replace("-", "_"))
    if override:
        return override.replace(",", " ").split()
    return list(MIRRORS[name])


def _download(name: str, filename: str) -> Path:
    urls = [base.rstrip("/") + "/" + filename for base in mirrors(name)]
    hint = f"put {', '.join(CHECKSUMS[name])} in a directory DIR and set data.root=DIR"
    return fetch(urls, Path(name) / filename, CHECKSUMS[name][filename], local_copy_hint=hint)


def _locate_idx(name: str, part: str, root) -> list[Path]:
    files = IDX_FILES[part]
    if root is None:
        return [_download(name, filename) for filename in files]
    root = Path(root).expanduser()
    folders = [root, root / name, root / TORCHVISION_FOLDERS[name] / "raw"]
    found = []
    for filename in files:
        candidates = [folder / n for folder in folders for n in (filename, filename.removesuffix(".gz"))]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            raise UserError(
                f"{name}: {filename} (or {filename.removesuffix('.gz')}) not found in {root}; put the "
                f"official files there, or unset data.root to download them"
            )
        found.append(hit)
    return found


def _locate_cifar(root) -> Path:
    """A directory of CIFAR-10 python batches, or the official tarball."""
    if root is None:
        return _download("cifar10", CIFAR_TARBALL)
    root = Path(root).expanduser()
    for folder in (root / CIFAR_FOLDER, root):
        if (folder / "data_batch_1").is_file() or (folder / "test_batch").is_file():
            return folder
    if (root / CIFAR_TARBALL).is_file():
        return root / CIFAR_TARBALL
    raise UserError(
        f"cifar10: neither {CIFAR_FOLDER}/ nor {CIFAR_TARBALL} found in {root}; put the official "
        f"python version there, or unset data.root to download it"
    )


# ---------------------------------------------------------------------------- IDX (MNIST formats)

_IDX_UBYTE = 0x08


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzipped or not), checking its header against its size."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read it ({err.strerror}); check the file, or download it again") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise UserError(f"{path}: damaged gzip data ({err}); delete the file and download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{path}: not an IDX file (bad magic number); delete it and download it again")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != _IDX_UBYTE or ndim not in (1, 3):
        raise UserError(
            f"{path}: unexpected IDX header (type 0x{dtype_code:02x}, {ndim} dimensions; expected unsigned "
            f"bytes with 1 or 3 dimensions); delete it and download it again"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: IDX file truncated inside its header; delete it and download it again")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise UserError(
            f"{path}: IDX header promises shape {shape} ({expected} bytes) but the file has {len(raw)} bytes; "
            f"delete it and download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise UserError(
            f"{images_path} / {labels_path}: expected (N, H, W) images and (N,) labels, got shapes "
            f"{images.shape} and {labels.shape}; check the two files are an images/labels pair"
        )
    if len(images) != len(labels):
        raise UserError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            f"use files from the same release"
        )
    if labels.size and labels.max() > 9:
        raise UserError(
            f"{labels_path}: labels must lie in 0..9, found {labels.max()}; this is not an MNIST label file"
        )
    return images, labels
