"""A run mirrored into TensorBoard (``train.logger=tensorboard``): event files under RUN/tensorboard/.

What is written, and when:

- per epoch, every number of the epoch's metrics.jsonl record as a scalar at step = epoch:
  ``train/<loss>``, ``val/<loss>``, ``test/<loss>``, ``fid`` and ``class_entropy`` when measured,
  ``time_s`` and ``cpu_s``;
- each sample grid at the trainer's sample cadence, as one image (``samples``) at its epoch;
- at the end, the hyper-parameters (every scalar field of the config: family, data.*, train.*,
  model.*) with the final metrics from summary.json (``final/...``), so TensorBoard's HParams
  view lines up the runs of a sweep: ``tensorboard --logdir SWEEP`` finds every
  SWEEP/<variant>/tensorboard.

A resumed run re-trains the epochs after its last checkpoint: the writer opens with
``purge_step`` at the first epoch it is given, so TensorBoard drops what the interrupted run
had logged from that epoch on and shows each epoch once.

tensorboard is an optional extra (``pip install 'genimg[tensorboard]'``); it is imported when a
logger is made, not with this module, so train/loggers.py can name the class at no cost to runs
that log nowhere (train.logger=none loads no tensorboard).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from genimg.config.run_config import RunConfig
from genimg.errors import UserError
from genimg.images import make_grid
from genimg.runs.directory import RunDir

SUBDIR = "tensorboard"
GRID_ROWS = 8  # the trainer's grids are 64 samples: 8 x 8, as samples/epoch_NNNN.png
# summary.json fields that are final metrics (the rest describe the run: status, epochs, paths)
FINAL_KEYS = ("best_score", "train_time_s", "train_cpu_s", "parameters", "epochs_trained", "best_epoch")


def require_tensorboard() -> type:
    """torch's SummaryWriter, or a one-line UserError saying how to install tensorboard
    (the trainer's validate_config calls this before any data loads)."""
    try:
        # Deferred: tensorboard is an optional extra, needed only when this logger is chosen.
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:  # torch's module raises ImportError when tensorboard is missing
        raise UserError(
            "train.logger=tensorboard needs the tensorboard package: pip install 'genimg[tensorboard]' "
            "(or train.logger=none)"
        ) from error
    return SummaryWriter


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested numbers as {"train/loss": ...}; non-numbers and non-finite numbers are skipped."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def hyperparameters(config: RunConfig) -> dict[str, Any]:
    """Every field of the config as a value the HParams view takes: numbers, strings and bools as
    they are, anything else (None, lists) as its text."""
    out: dict[str, Any] = {"family": config.family}
    for section in ("data", "train", "model"):
        for field, value in dataclasses.asdict(getattr(config, section)).items():
            ok = isinstance(value, (bool, str)) or (isinstance(value, (int, float)) and math.isfinite(value))
            out[f"{section}.{field}"] = value if ok else str(value)
    return out


def final_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The numbers a run ends with: selection score, times, size, test losses, likelihood bounds."""
    picked = {k: summary[k] for k in FINAL_KEYS if k in summary}
    picked.update({k: summary[k] for k in ("test", "likelihood") if isinstance(summary.get(k), dict)})
    return {f"final/{k}": v for k, v in flatten(picked).items()}


class TensorBoardLogger:
    """The hooks of ``genimg.train.loggers.Logger`` (epoch, images, finish), written to TensorBoard."""

    def __init__(self, config: RunConfig, run: RunDir) -> None:
        self.writer_class = require_tensorboard()  # fails here, before training, if tensorboard is missing
        self.directory = run.path / SUBDIR
        self.writer = None

    def _open(self, step: int | None):
        """The writer, opened at the first epoch logged: a resumed run purges what it re-logs
        (``None``: nothing to purge, e.g. a run resumed after its last epoch only finishes)."""
        if self.writer is None:
            self.writer = self.writer_class(log_dir=str(self.directory), purge_step=step)
        return self.writer

    def epoch(self, record: dict[str, Any]) -> None:
        epoch = int(record["epoch"])
        writer = self._open(epoch)
        for tag, value in flatten({k: v for k, v in record.items() if k not in ("epoch", "step")}).items():
            writer.add_scalar(tag, value, epoch)
        writer.flush()

    def images(self, tag: str, images: torch.Tensor, epoch: int) -> None:
        grid = make_grid(images, nrow=GRID_ROWS)
        self._open(epoch).add_image(tag, grid, epoch, dataformats="CHW")

    def finish(self, config: RunConfig, summary: dict[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams  # deferred with SummaryWriter (optional extra)

        writer = self._open(None)
        metrics = final_metrics(summary)
        # The HParams view pairs a run's hyper-parameters with scalars of the same tags: write
        # both into this run's own event file (SummaryWriter.add_hparams would start another run).
        for event in hparams(hyperparameters(config), metrics):
            writer.file_writer.add_summary(event)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, int(summary.get("epochs_trained") or 0))
        writer.close()
