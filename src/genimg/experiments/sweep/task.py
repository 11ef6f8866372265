"""One variant's work, as a worker does it: train (fresh or resumed) if needed, then evaluate.

Errors are returned, not raised, so that one failing variant does not stop the others, and a
worker's output goes to the variant's log (parallel runs would interleave it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genimg.config import config_from_dict
from genimg.errors import UserError
from genimg.experiments.sweep import evaluation
from genimg.train import trainer


@dataclass
class Task:
    """What one worker does for one variant: train (fresh or resumed) if needed, then evaluate."""

    name: str
    run_dir: str
    config: dict[str, Any] | None  # the config to train from (None: training is already finished)
    resume: bool
    evaluation: dict[str, Any] | None  # evaluator keyword arguments (None: no evaluation)
    threads: int
    log: str | None = None  # the worker's output goes here (parallel runs would interleave it)
    quiet: bool = True


@dataclass
class TaskResult:
    name: str
    trained: bool = False
    evaluated: bool = False
    error: str | None = None
    cpu_s: float = 0.0
    wall_s: float = 0.0


def run_task(task: Task) -> TaskResult:
    """Train (or resume) one variant, then evaluate it; an error is the result's, not raised."""
    result = TaskResult(task.name)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with _output_to(task.log):
        _run_task(task, result)
    result.wall_s = time.perf_counter() - wall0
    result.cpu_s = time.process_time() - cpu0
    return result


@contextlib.contextmanager
def _output_to(log: str | None) -> Iterator[None]:
    if log is None:
        yield
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        print(f"--- {dt.datetime.now().isoformat(timespec='seconds')}")
        yield


def _run_task(task: Task, result: TaskResult) -> None:
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)  # training sets it too; this covers the evaluation
    try:
        if task.config is not None:
            config = config_from_dict(task.config)
            if task.resume:
                trainer.train(config, resume=task.run_dir, quiet=task.quiet)
            else:
                trainer.train(config, run_dir=task.run_dir, quiet=task.quiet)
            result.trained = True
        if task.evaluation is not None:
            evaluation.evaluate_variant(task.run_dir, task.evaluation, quiet=task.quiet)
            result.evaluated = True
    except Exception as e:  # noqa: BLE001 - reported per variant by the parent; the others go on
        print(traceback.format_exc())  # the whole story goes to the log
        result.error = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        if task.log:
            result.error += f" (log: {task.log})"
    finally:
        torch.set_num_threads(previous_threads)
