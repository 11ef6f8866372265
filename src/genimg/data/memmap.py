"""A cache file holding one array that is read memory-mapped, never loaded whole.

The file has the layout ``io.write_checked`` gives an ``.npy`` payload (a magic line, the
SHA-256 of the payload, the payload), so ``io.read_checked`` reads it as well. What differs is
that the array never has to fit in memory: ``array_writer`` lets the caller fill the array
through a memory map of the new file and hashes it in chunks, and ``open_checked_array`` checks
the hash in chunks and returns a read-only ``np.memmap``. The pages of a mapped file belong to
the operating system's page cache: they are read when touched, shared by every process that maps
the same file (a sweep's parallel runs, a DataLoader's workers), and dropped under memory pressure.
Within a process, the three splits of one cache share one mapping: a page fault maps the
neighbouring pages too (the kernel's fault-around), which would otherwise count once per split.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genimg.io import _CHECKED_MAGIC as MAGIC  # the same layout, so read_checked reads these files too
from genimg.io import atomic_path

DIGEST_BYTES = 32
CHUNK_BYTES = 1 << 23  # hashing reads 8 MiB at a time: bounded memory, near the disk's speed
_MAPPINGS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # (file, inode) -> its live np.memmap


@contextlib.contextmanager
def array_writer(path: str | os.PathLike, shape: tuple[int, ...], dtype=np.uint8) -> Iterator[np.ndarray]:
    """Yield a writable array of ``shape`` mapped onto a new file; once the block has filled it,
    the file is hashed and renamed onto ``path`` (atomically: a failed block leaves ``path`` as it was)."""
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    nbytes = math.prod(shape) * dtype.itemsize
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # an OSError in this block is one UserError naming path (atomic_path)
            f.write(MAGIC + bytes(DIGEST_BYTES))  # the digest's place, filled in below
            np.lib.format.write_array_header_1_0(f, header)
            offset = f.tell()
            _allocate(f, offset + nbytes)
        if nbytes:
            array = np.memmap(tmp, dtype=dtype, mode="r+", offset=offset, shape=tuple(shape))
            yield array
            array.flush()
            del array
        else:  # mmap cannot map nothing
            yield np.empty(shape, dtype)
        digest = _sha256(tmp, len(MAGIC) + DIGEST_BYTES)
        with open(tmp, "r+b") as f:
            f.seek(len(MAGIC))
            f.write(digest)


def open_checked_array(path: str | os.PathLike, verify: bool = True) -> np.ndarray | None:
    """The array in ``path``, memory-mapped read-only; None if the file is missing, not such a
    file, or (with ``verify``) its content no longer matches its SHA-256: a cache entry the
    caller rebuilds, never trusts."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return None
            digest = f.read(DIGEST_BYTES)
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                return None
            offset = f.tell()
            stat = os.fstat(f.fileno())
            size = stat.st_size
    except (OSError, ValueError):  # unreadable, or a header numpy cannot parse
        return None
    if fortran or dtype.hasobject or size != offset + math.prod(shape) * dtype.itemsize:
        return None
    if verify and _sha256(path, len(MAGIC) + DIGEST_BYTES) != digest:
        return None
    if size == offset:
        return np.empty(shape, dtype)
    # A live mapping of this very file (same inode) shows the content just checked: share it.
    key = (str(path.resolve()), stat.st_ino)
    array = _MAPPINGS.get(key)
    if array is not None and array.offset == offset and array.shape == tuple(shape) and array.dtype == dtype:
        return array
    try:
        array = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    except (OSError, ValueError):
        return None
    _MAPPINGS[key] = array
    return array


def _allocate(f, size: int) -> None:
    """Reserve the file's blocks now: a full disk is then an OSError here (one UserError), not a
    SIGBUS later when a page of the memory map is written."""
    f.flush()
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(f.fileno(), 0, size)
            return
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # ENOSPC, EDQUOT, EIO: a real failure
                raise
    f.truncate(size)  # macOS, Windows, file systems without fallocate: a sparse file


def _sha256(path: str | os.PathLike, start: int) -> bytes:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb") as f:
        f.seek(start)
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.digest()
