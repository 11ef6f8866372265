"""How a sweep's parallel runs share the GPUs: each worker slot its own, round-robin.

On a machine with several GPUs, a sweep whose runs train on ``train.device=auto`` (or ``cuda``)
gives worker slot k the device ``cuda:(k mod GPU count)``, written into the config of each run
that slot trains: ``--parallel 4`` on 4 GPUs trains 4 runs at once, one per GPU, each run
recording where it trained. A slot is freed when its run ends and the next run takes it (see
``workers.execute``), so two runs share a GPU only when there are more workers than GPUs. CPU
runs keep splitting the cores (``threads.py``); with one GPU, ``auto`` already means it.
"""

from __future__ import annotations

import dataclasses

import torch

from genimg.experiments.sweep.task import Task

SHARED_SETTINGS = ("auto", "cuda")  # the settings that leave the choice of GPU to the sweep


def worker_devices(workers: int, settings: set[str]) -> list[str] | None:
    """One device per worker slot, round-robin over the GPUs; None when the runs' device
    ``settings`` name a particular device (or the CPU), or there are fewer than two GPUs."""
    if workers < 2 or not settings or not settings <= set(SHARED_SETTINGS) or not torch.cuda.is_available():
        return None
    count = torch.cuda.device_count()
    if count < 2:
        return None
    return [f"cuda:{slot % count}" for slot in range(workers)]


def on_device(task: Task, device: str | None) -> Task:
    """``task`` with its run trained on ``device`` (unchanged for None, or when nothing trains)."""
    if device is None or task.config is None:
        return task
    config = {**task.config, "train": {**task.config.get("train", {}), "device": device}}
    return dataclasses.replace(task, config=config)
