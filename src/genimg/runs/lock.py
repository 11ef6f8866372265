"""One trainer per run directory: ``RUN/.lock``, held by the training process, names its pid.

The lock is an advisory ``flock`` on the file, which the kernel drops when its process dies,
however it dies (even SIGKILL): a lock file whose lock nobody holds is stale, and the next
trainer takes it over with a note naming the process that left it. A second process that finds
the lock held is refused in one line naming the owner. The file is rewritten with the new
owner's pid, host and start time, and removed when training ends.

Where ``fcntl`` is missing (Windows) the pid alone decides: a lock file whose process is gone is
stale. ``holder`` tells ``genimg runs`` whether a run marked running really is.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from pathlib import Path

from genimg.errors import UserError
from genimg.io import write_errors

try:  # deferred: fcntl exists only on POSIX
    import fcntl
except ImportError:  # Windows: the pid check below stands in
    fcntl = None  # type: ignore[assignment]  # None marks the module absent (checked before each use)

LOCK_FILE = ".lock"


class RunLock:
    """Held while a process trains into ``run_path`` (a context manager)."""

    def __init__(self, run_path: str | Path, note: Callable[[str], None] = print) -> None:
        self.path = Path(run_path) / LOCK_FILE
        self.note = note
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        with write_errors(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while self.fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
                if not _try_lock(fd, self.path):
                    owner = _read(fd)
                    os.close(fd)
                    raise UserError(
                        f"{self.path.parent} is being trained by another process ({owner or 'unknown owner'}); "
                        f"wait for it to finish or stop it, or train into another directory (train.run_name=NAME)"
                    )
                try:  # the holder before us may have removed the file after we opened it: lock the new one
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                self.fd = fd
            previous = _read(self.fd)
            if previous and not previous.startswith(f"pid {os.getpid()} "):
                self.note(f"note: {self.path} was left by a process that no longer runs ({previous}); taking it over")
            since = dt.datetime.now().isoformat(timespec="seconds")
            owner = f"pid {os.getpid()} on {socket.gethostname()} since {since}"
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, (owner + "\n").encode(), 0)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: see the inode check above
        except OSError:
            pass  # a read-only directory now: the kernel still drops the lock below
        os.close(self.fd)
        self.fd = None


def holder(run_path: str | Path) -> str | None:
    """Who holds the run's lock ("pid N on HOST since T"), or None if no live process does."""
    path = Path(run_path) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if fcntl is None:
            owner = _read(fd)
            return owner if owner and _pid_alive(owner) else None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read(fd) or "unknown owner"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _try_lock(fd: int, path: Path) -> bool:
    if fcntl is None:
        owner = _read(fd)
        return not (owner and _pid_alive(owner) and not owner.startswith(f"pid {os.getpid()} "))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read(fd: int) -> str:
    """The owner line in the lock file, printable (a damaged file reads as "?" marks)."""
    try:
        text = os.pread(fd, 400, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    first = text.splitlines()[0] if text else ""
    return "".join(c if c.isprintable() else "?" for c in first)


def _pid_alive(owner: str) -> bool:
    try:
        os.kill(int(owner.split()[1]), 0)
    except (IndexError, ValueError):
        return False  # not a pid genimg wrote: nobody to wait for
    except PermissionError:
        return True
    except OSError:
        return False
    return True
