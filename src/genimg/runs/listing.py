"""What ``genimg runs`` shows: every run directory under a folder, with its status, progress, kept
checkpoint and headline numbers, so that a user finds what a crash left and what to do with it.

A run whose summary.json says ``running`` but whose lock nobody holds (runs/lock.py) was killed
or crashed outright: it is shown as ``stopped``, with the command that continues it. A damaged
file does not hide the other runs: its run is shown as ``damaged`` with the file's message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genimg.errors import UserError
from genimg.runs.checkpoint import checkpoint_info, readable
from genimg.runs.directory import RunDir
from genimg.runs.lock import holder
from genimg.runs.pretrained_copy import resolve_run_path

RESUMABLE = ("stopped", "interrupted", "failed")


@dataclass
class RunRow:
    path: Path
    family: str = "?"
    dataset: str = "?"
    status: str = "unknown"
    epochs: int | None = None  # the last epoch logged in metrics.jsonl
    total_epochs: int | None = None  # train.epochs in config.yaml
    kept: str = "-"  # "best@7" (a finished run's kept weights), "last@5" (where a resume would start)
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def find_runs(root: str | Path) -> list[Path]:
    """Run directories (those with a config.yaml) at or under ``root``, sorted; not inside a run.
    ``pretrained:NAME`` is the cache copy of that shipped model."""
    root = resolve_run_path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; give the folder your runs are in (train.out, default runs)")
    found = []
    for folder, subfolders, files in os.walk(root):
        if "config.yaml" in files:
            found.append(Path(folder))
            subfolders.clear()  # what lives inside a run (a background model for outliers) is its own business
        else:
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
    return sorted(found)


def describe_run(path: str | Path) -> RunRow:
    run = RunDir(Path(path))
    row = RunRow(run.path)
    try:
        _fill(run, row)
    except UserError as e:
        row.status, row.note = "damaged", str(e)
    return row


def _fill(run: RunDir, row: RunRow) -> None:
    config = run.config()
    row.family, row.dataset, row.total_epochs = config.family, config.data.dataset, config.train.epochs
    summary = run.summary()
    records = run.metrics()
    row.epochs = records[-1]["epoch"] if records else 0
    status = summary.get("status") or ("finished" if summary.get("finished") else "unknown")
    owner = holder(run.path)
    last = checkpoint_info(run.checkpoint("last")) if readable(run.checkpoint("last")).exists() else None
    if status == "finished":
        best = summary.get("best_epoch")
        row.kept = f"{summary.get('kept_checkpoint', 'best')}@{best if best and best > 0 else row.epochs}"
    elif last is not None:
        row.kept = f"last@{last.get('epoch', '?')}"
    if owner:
        status, row.note = "running", f"trained by {owner}"
    elif status == "running":
        status = "stopped"
        row.note = "no process holds its lock: killed or crashed"
    elif status in ("failed", "interrupted", "diverged") and summary.get("error"):
        row.note = str(summary["error"])
    if status in RESUMABLE:
        row.note = f"{row.note}; " if row.note else ""
        row.note += f"continue with `genimg train --resume {run.path}`"
    row.status = status
    row.metrics = _headline(run, summary, records)


def _headline(run: RunDir, summary: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    last = records[-1] if records else {}
    if isinstance(last.get("val"), dict) and _num(last["val"].get("loss")) is not None:
        out["val_loss"] = last["val"]["loss"]
    if _num(summary.get("best_score")) is not None and summary.get("select_by") in ("val_loss", "fid"):
        out[f"best_{summary['select_by']}"] = summary["best_score"]
    bpd = [v for k, v in (summary.get("likelihood") or {}).items() if k.endswith("_bpd") and _num(v) is not None]
    if bpd:
        out["nll_bpd"] = min(bpd)
    fid: Any = ((run.evaluation().get("scores") or {}).get("fid") or {}).get("mean")
    if _num(fid) is not None:
        out["eval_fid"] = fid
    return out


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
