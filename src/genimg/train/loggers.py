"""Where a run's numbers and pictures go besides its run directory: loggers such as TensorBoard.

metrics.jsonl, the sample grids and summary.json are always written (they are the record);
a logger mirrors them into a tool people already use. ``train.logger`` names one (``none`` by
default). A logger sees each epoch's record, each sample grid, and the final summary; it must
not change what the run computes.
"""

from __future__ import annotations

from typing import Any

import torch

from genimg.config.run_config import RunConfig
from genimg.runs.directory import RunDir


class Logger:
    def epoch(self, record: dict[str, Any]) -> None:
        """One line of metrics.jsonl: epoch, step, train/val/test losses, fid, times."""

    def images(self, tag: str, images: torch.Tensor, epoch: int) -> None:
        """A sample grid's images (N, C, H, W in [0, 1])."""

    def finish(self, config: RunConfig, summary: dict[str, Any]) -> None:
        """The run's config and final summary; the logger closes its files."""


LOGGERS: dict[str, type[Logger]] = {"none": Logger}


def make_logger(config: RunConfig, run: RunDir) -> Logger:
    return LOGGERS[config.train.logger](config, run) if config.train.logger != "none" else Logger()
