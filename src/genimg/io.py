"""Small file helpers shared by every module that reads or writes: nothing is ever half-written,
nothing unreadable escapes as a traceback.

Writes are atomic (``atomic_path``) and strict JSON: ``allow_nan=False``, with every infinity or
NaN written as ``null`` and counted beside it (``"psnr": null, "psnr_nonfinite": {"inf": 1}``),
so any JSON reader can read what genimg writes. A write that fails for want of space or
permission is one ``UserError`` naming the file (``write_errors``). A JSON file that cannot be
read is one ``UserError`` naming the file and the fix (``read_json``); ``metrics.jsonl`` may end
with a line torn by a kill, which ``read_jsonl`` tolerates (the trainer rewrites it on resume).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genimg.errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)

NONFINITE_SUFFIX = "_nonfinite"  # beside a key whose value held infinities or NaNs: how many of each
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_PERMISSION = (errno.EACCES, errno.EPERM, errno.EROFS)


# ---------------------------------------------------------------------------- write errors


def write_error(path: str | os.PathLike, err: OSError) -> UserError:
    """The one-line refusal for an OSError met while writing ``path``."""
    if err.errno in _NO_SPACE:
        why = "no space left on the device"
        fix = "free some space (or write elsewhere: train.out=DIR, --out DIR) and try again"
    elif err.errno in _NO_PERMISSION:
        why = "read-only file system" if err.errno == errno.EROFS else "permission denied"
        fix = "choose a directory you can write to (train.out=DIR, --out DIR)"
    else:
        why = err.strerror or type(err).__name__
        fix = "check the disk and the directory, then try again"
    return UserError(f"cannot write {path}: {why}; {fix}")


@contextlib.contextmanager
def write_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError raised by the block (which writes ``path``) into one-line UserError."""
    try:
        yield
    except OSError as err:
        raise write_error(path, err) from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.
    A full disk or a read-only directory is one UserError, and ``path`` keeps its old content."""
    path = Path(path)
    with write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            if tmp.exists():  # mkstemp makes 0600 files; give the final file the usual permissions
                os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# ---------------------------------------------------------------------------- strict JSON


def strict_json(obj: Any) -> Any:
    """``obj`` as plain JSON values (tensors, arrays and paths converted), every non-finite float
    replaced by None and counted beside its key as ``<key>_nonfinite``: {"inf": n, "-inf": n, "nan": n}."""
    obj = _plain(obj)
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            counts: dict[str, int] = {}
            out[key] = _replace_nonfinite(value, counts)
            if counts:
                out[f"{key}{NONFINITE_SUFFIX}"] = counts
        return out
    if isinstance(obj, list):
        return [strict_json(v) if isinstance(v, (dict, list)) else _replace_nonfinite(v, {}) for v in obj]
    return _replace_nonfinite(obj, {})


def _replace_nonfinite(value: Any, counts: dict[str, int]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        kind = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        counts[kind] = counts.get(kind, 0) + 1
        return None
    if isinstance(value, dict):
        return strict_json(value)
    if isinstance(value, list):  # a list of numbers: its non-finite entries are counted under the list's key
        return [strict_json(v) if isinstance(v, dict) else _replace_nonfinite(v, counts) for v in value]
    return value


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "tolist"):  # tensors and arrays (0-d ones become numbers)
        return _plain(obj.tolist())
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (see ``strict_json``)."""
    return json.dumps(strict_json(obj), allow_nan=False, **kwargs)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, dumps(obj, indent=2, sort_keys=True) + "\n")


def jsonl_text(records: list[dict]) -> str:
    return "".join(dumps(r) + "\n" for r in records)


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line. A crash mid-write leaves at most a torn last line, which readers skip."""
    line = dumps(record) + "\n"
    with write_errors(path), open(path, "a") as f:
        f.write(line)
        f.flush()


# ---------------------------------------------------------------------------- reading


def read_json(path: str | os.PathLike, fix: str) -> Any:
    """The JSON value in ``path``; one UserError naming the file and ``fix`` if it cannot be read."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is unreadable ({_short(err)}); {fix}") from None


def read_jsonl(path: str | os.PathLike, fix: str = "restore it from a copy, or delete it") -> list[dict]:
    """The JSON objects of a JSON-lines file, one a line; [] if there is no file.

    A last line without its newline is a write a kill cut short: it is left out (the trainer
    rewrites the file on resume). Any other line that is not a JSON object is a damaged file:
    one UserError naming the file, the line and ``fix``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise UserError(f"{path} is unreadable ({_short(err)}); {fix}") from None
    lines = raw.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{path} line {number} is damaged ({_short(err)}); {fix}") from None
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number} is not a JSON object; {fix}")
        records.append(record)
    if torn:
        try:  # complete but for its newline: keep it
            record = json.loads(torn.decode("utf-8"))
            if isinstance(record, dict):
                records.append(record)
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass
    return records


# ---------------------------------------------------------------------------- checked blobs

_CHECKED_MAGIC = b"genimg-checked-1\n"


def write_checked(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` atomically behind its SHA-256, so that ``read_checked`` notices any damage."""
    write_bytes(path, _CHECKED_MAGIC + hashlib.sha256(payload).digest() + payload)


def read_checked(path: str | os.PathLike) -> bytes | None:
    """The payload ``write_checked`` wrote, or None if the file is missing, truncated or altered
    (a cache entry: the caller rebuilds it)."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    head = len(_CHECKED_MAGIC)
    digest, payload = raw[head : head + 32], raw[head + 32 :]
    if raw[:head] != _CHECKED_MAGIC or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def _short(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:120]


# ---------------------------------------------------------------------------- locks


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` while the block runs (POSIX flock; a no-op where
    fcntl is missing). A second process asking for the same lock waits."""
    try:  # deferred: fcntl exists only on POSIX
        import fcntl
    except ImportError:  # Windows: atomic writes still keep every file whole
        yield
        return
    with write_errors(path):
        handle = open(path, "a")
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
