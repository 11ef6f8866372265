"""Where a run's numbers and pictures go besides its run directory: loggers such as TensorBoard.

metrics.jsonl, the sample grids and summary.json are always written (they are the record);
a logger mirrors them into a tool people already use. ``train.logger`` names one (``none`` by
default). A logger sees each epoch's record, each sample grid, and the final summary; it must
not change what the run computes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from genimg.config.run_config import RunConfig
from genimg.runs.directory import RunDir
from genimg.train.tensorboard import TensorBoardLogger


class Logger(Protocol):
    """What a logger does. A protocol: a logger has these three methods and need not subclass
    this (TensorBoardLogger does not, so that its module need not import this one, which imports it)."""

    def epoch(self, record: dict[str, Any]) -> None:
        """One line of metrics.jsonl: epoch, step, train/val/test losses, fid, times."""

    def images(self, tag: str, images: torch.Tensor, epoch: int) -> None:
        """A sample grid's images (N, C, H, W in [0, 1])."""

    def finish(self, config: RunConfig, summary: dict[str, Any]) -> None:
        """The run's config and final summary; the logger closes its files."""


class NoLogger:
    """``train.logger=none``, and the trainer's logger until its run directory exists: does nothing."""

    def __init__(self, config: RunConfig | None = None, run: RunDir | None = None) -> None:
        pass

    def epoch(self, record: dict[str, Any]) -> None:
        pass

    def images(self, tag: str, images: torch.Tensor, epoch: int) -> None:
        pass

    def finish(self, config: RunConfig, summary: dict[str, Any]) -> None:
        pass


# name (config.run_config.LOGGERS) -> a logger class taking (config, run directory); the
# tensorboard one loads tensorboard only when it is made.
LOGGERS: dict[str, Callable[[RunConfig, RunDir], Logger]] = {"none": NoLogger, "tensorboard": TensorBoardLogger}


def make_logger(config: RunConfig, run: RunDir) -> Logger:
    return LOGGERS[config.train.logger](config, run)
