"""Checksummed downloads into a local cache, with mirrors, using only the standard library.

A file counts as downloaded only once its SHA-256 matches: it is streamed into a temporary
file beside its destination, hashed on the way, and renamed onto the destination only
after the hash checks out. An interrupted, truncated or corrupted download therefore never
leaves a file that a later run would trust. A cached file whose hash matches is reused
without touching the network; one whose hash does not match is downloaded again.

The cache lives in ``$GENIMG_CACHE`` (default ``~/.cache/genimg``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from genimg import __version__
from genimg.errors import UserError

DEFAULT_TIMEOUT = 30.0  # seconds without a byte before a connection counts as dead
CHUNK_BYTES = 1 << 20


def cache_dir() -> Path:
    """The directory downloads and decoded datasets are kept in: ``$GENIMG_CACHE`` or ``~/.cache/genimg``."""
    configured = os.environ.get("GENIMG_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "genimg"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str | Sequence[str],
    dest: str | os.PathLike,
    sha256: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    local_copy_hint: str | None = None,
) -> Path:
    """Return the path of a verified local copy of ``url``, downloading it if needed.

    ``url`` is one URL or a list of mirrors tried in order. ``dest`` is a path relative to
    the cache directory (or an absolute path). ``sha256`` is the expected hex digest; the
    file is accepted only if it matches. If every mirror fails, a ``UserError`` lists each
    failure and says how to use a local copy instead (``local_copy_hint`` overrides that advice).
    """
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("fetch needs at least one URL")
    dest = Path(dest)
    if not dest.is_absolute():
        dest = cache_dir() / dest
    expected = sha256.lower()

    if dest.is_file():
        if sha256_of(dest) == expected:
            return dest
        dest.unlink()  # a stale or corrupted copy: download it again below

    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for candidate in urls:
        try:
            _download_verified(candidate, dest, expected, timeout=timeout, progress=progress)
            return dest
        except _DownloadFailed as failure:
            failures.append(f"{candidate}: {failure}")
    hint = local_copy_hint or f"put {dest.name} in a directory DIR and set data.root=DIR"
    raise UserError(f"could not download {dest.name} ({'; '.join(failures)}); to use a local copy instead, {hint}")


class _DownloadFailed(Exception):
    """One mirror failed; the message says how, in a few words."""


def _download_verified(url: str, dest: Path, expected: str, *, timeout: float, progress: bool) -> None:
    # The temporary file sits beside dest so that the final rename is atomic (same filesystem).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _stream(url, out, timeout=timeout, progress=progress, label=dest.name)
        if got != expected:
            raise _DownloadFailed(f"checksum mismatch (expected sha256 {expected}, got {got}); the file was removed")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url: str, out, *, timeout: float, progress: bool, label: str) -> str:
    """Copy ``url`` into the open file ``out`` and return the SHA-256 of what was received."""
    request = urllib.request.Request(url, headers={"User-Agent": f"genimg/{__version__}"})
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length_header = response.headers.get("Content-Length")
            expected_length = int(length_header) if length_header and length_header.isdigit() else None
            with tqdm(
                total=expected_length, unit="B", unit_scale=True, desc=label, disable=not progress, leave=False
            ) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        raise _DownloadFailed(f"server error HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise _DownloadFailed(f"connection failed ({_describe(err.reason)})") from None
    except http.client.IncompleteRead as err:
        raise _DownloadFailed(
            f"truncated download ({received + len(err.partial)} bytes received, connection closed early)"
        ) from None
    except TimeoutError:
        raise _DownloadFailed(f"timed out after {timeout:g} s without data ({received} bytes received)") from None
    except (ConnectionError, http.client.HTTPException, OSError) as err:
        raise _DownloadFailed(f"connection failed ({_describe(err)}) after {received} bytes") from None
    # urllib returns a short body without complaint when the server closes early.
    if expected_length is not None and received != expected_length:
        raise _DownloadFailed(
            f"truncated download ({received} of {expected_length} bytes received; the file was removed)"
        )
    return digest.hexdigest()


def _describe(reason: object) -> str:
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
