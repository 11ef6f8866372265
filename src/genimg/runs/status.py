"""A run directory's status, kept in ``summary.json`` so a crash never leaves a directory that
nobody can explain: ``running`` while training, then ``finished``, ``failed`` (with the error),
``interrupted`` (Ctrl-C, SIGTERM) or ``diverged`` (a non-finite loss; train/guard.py). A process
killed outright leaves ``running`` with nobody holding its lock (runs/lock.py), which
``genimg runs`` shows as stopped.

A new run may go into a directory only if that directory holds no checkpoint; otherwise the
refusal names the one command that helps: resume the unfinished run, or pick another name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from genimg.config.run_config import RunConfig
from genimg.errors import UserError
from genimg.io import write_json
from genimg.runs.checkpoint import readable
from genimg.runs.directory import RunDir

STATUSES = ("running", "finished", "failed", "interrupted", "diverged")


def mark(run: RunDir, status: str, clear: tuple[str, ...] = (), **details: Any) -> None:
    """Record ``status`` (and details such as the error) in summary.json, keeping what is there
    except the keys in ``clear`` (an old error, once the run is running again)."""
    assert status in STATUSES, status
    summary = {k: v for k, v in run.summary().items() if k not in clear}
    summary.update(details, status=status, status_time=dt.datetime.now().isoformat(timespec="seconds"))
    write_json(run.summary_file, summary)


def mark_quietly(run: RunDir, status: str, **details: Any) -> None:
    """``mark`` while another error is on its way out: a damaged summary.json or a full disk must
    not hide that error, so this one is dropped (the status then reads as stopped)."""
    try:
        mark(run, status, **details)
    except (UserError, OSError):
        pass


def new_run_path(config: RunConfig) -> Path:
    """Where a new run of ``config`` goes: train.out/train.run_name, or FAMILY-DATASET-TIME."""
    dataset = config.data.dataset.replace(":", "_").replace("/", "_")
    name = config.train.run_name or f"{config.family}-{dataset}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    path = Path(config.train.out) / name
    refuse_taken(RunDir(path))
    return path


def refuse_taken(run: RunDir) -> None:
    """Refuse a new run in a directory that holds a checkpoint, naming the command that helps."""
    path = run.path
    if not readable(run.checkpoint("last")).exists():
        return
    status = run.status()
    if status == "finished":
        raise UserError(
            f"{path} already holds a finished run; train it longer with `genimg train --resume {path} "
            f"epochs=N`, or pick another train.run_name"
        )
    if status == "diverged":
        raise UserError(
            f"{path} holds a run that diverged; pick another train.run_name for a new one, or remove it "
            f"with `rm -r {path}`"
        )
    raise UserError(
        f"{path} holds an unfinished run (status: {status}); continue it with "
        f"`genimg train --resume {path}`, or remove it with `rm -r {path}`"
    )
