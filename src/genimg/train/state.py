"""What a training run carries between epochs and hands back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from genimg.models.base import GenerativeModel
from genimg.runs.directory import RunDir


@dataclass
class TrainState:
    """Counters that, with the weights, optimisers and RNG states, make a resume exact."""

    epoch: int = 0  # epochs completed
    step: int = 0
    best_score: float = math.inf
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    elapsed_s: float = 0.0  # wall time spent training, summed over resumes
    cpu_s: float = 0.0  # process CPU time, summed over resumes
    stopped_early: bool = False
    nonfinite_skipped: int = 0  # training steps skipped for a non-finite loss or gradient (train.skip_nonfinite)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    run: RunDir
    model: GenerativeModel  # the kept weights (EMA where there is one), in eval mode
    summary: dict[str, Any]
