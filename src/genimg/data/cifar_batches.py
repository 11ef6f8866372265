"""CIFAR-10's python batches, read without running their pickles: an unpickler that only
rebuilds NumPy arrays, so a tampered file cannot run code. A batch may sit in a folder or
inside the original tarball, whose members are read in place: nothing is extracted."""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
import posixpath
import tarfile
from pathlib import Path

import numpy as np

from genimg.errors import UserError

CIFAR_TARBALL = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def read_cifar(source: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels of an official part, from a batches folder or the tarball."""
    wanted = CIFAR_BATCHES[part]
    if source.is_dir():
        blobs = {}
        for batch in wanted:
            if not (source / batch).is_file():
                raise UserError(f"cifar10: {source / batch} is missing; use the complete {CIFAR_FOLDER}/ folder")
            try:
                blobs[batch] = (source / batch).read_bytes()
            except OSError as err:
                raise UserError(f"cifar10: cannot read {source / batch} ({err.strerror}); download it again") from None
    else:
        blobs = _read_tar_members(source, wanted)
    decoded = [_decode_cifar_batch(blobs[batch], f"{source}:{batch}") for batch in wanted]
    return np.concatenate([d[0] for d in decoded]), np.concatenate([d[1] for d in decoded])


def _read_tar_members(tarball: Path, wanted: list[str]) -> dict[str, bytes]:
    """Read the named batches straight out of the tarball, in one pass, writing nothing to disk.

    Only regular-file members named ``cifar-10-batches-py/<batch>`` are read; every other
    member (``../evil``, absolute paths, links) is never touched, so a hostile archive cannot
    write anywhere.
    """
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:  # streaming: one decompression pass over the archive
                batch = _batch_name(member.name)
                if batch not in wanted or batch in found:
                    continue
                if not member.isfile():
                    raise UserError(
                        f"{tarball}: member {member.name} is a link or special file, not a regular file; "
                        f"this is not the official archive, download it again"
                    )
                file = tar.extractfile(member)
                assert file is not None  # a regular file (checked above) always has one
                found[batch] = file.read()
                if len(found) == len(wanted):
                    break
            # Read the compressed stream to its end, where gzip keeps the checksum of everything
            # in it: a flipped bit anywhere is noticed, not decoded into different pixels.
            while tar.fileobj.read(1 << 20):
                pass
    except UserError:
        raise
    except Exception as err:  # tarfile, gzip, zlib and lzma raise many types for a damaged archive
        raise UserError(f"{tarball}: damaged archive ({_short(err)}); delete it and download it again") from None
    missing = [b for b in wanted if b not in found]
    if missing:
        raise UserError(
            f"{tarball}: no {', '.join(CIFAR_FOLDER + '/' + b for b in missing)} inside; "
            f"use the official python version ({CIFAR_TARBALL})"
        )
    return found


def _short(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0][:100]


def _batch_name(member_name: str) -> str | None:
    parts = posixpath.normpath(member_name).split("/")
    return parts[1] if len(parts) == 2 and parts[0] == CIFAR_FOLDER else None


def _decode_cifar_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except UserError:
        raise
    except Exception as err:  # pickle raises many types on garbage; all mean the same here
        raise UserError(
            f"{where}: not a CIFAR-10 python batch ({type(err).__name__}: {err}); download it again"
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise UserError(f"{where}: not a CIFAR-10 python batch (no data/labels entries); download it again")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise UserError(
            f"{where}: expected uint8 data of shape (N, 3072) and N labels, got {data.dtype} {data.shape} "
            f"and {labels.shape}; download it again"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{where}: labels must lie in 0..9; download it again")
    # Each row holds the red plane, then green, then blue, each 32x32 row-major: that is CHW.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and NumPy arrays/scalars; refuses every other global, so no code runs."""

    def find_class(self, module: str, name: str):
        allowed = _allowed_pickle_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise UserError(
            f"refusing to unpickle {module}.{name}: a CIFAR-10 batch holds only NumPy arrays; "
            f"the file is not the official one, download it again"
        )


def _allowed_pickle_globals() -> dict[tuple[str, str], object]:
    # NumPy moved these internals in 2.0: import whichever this NumPy has.
    try:  # NumPy >= 2
        multiarray = importlib.import_module("numpy._core.multiarray")
        numeric = importlib.import_module("numpy._core.numeric")
    except ImportError:  # NumPy 1.x
        multiarray = importlib.import_module("numpy.core.multiarray")
        numeric = importlib.import_module("numpy.core.numeric")
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for package in ("numpy.core", "numpy._core"):  # pickles name whichever their writer had
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar  # NumPy integers in a re-saved label list
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed
