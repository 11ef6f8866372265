"""Batches for the loop: index slices of a split in memory, or a DataLoader over a split on disk.

A split that fits the memory budget (``data.max_memory_gb``; ``memory_budget``) is one float32
tensor on the device and a batch is an index slice of it: on a few CPU cores, DataLoader worker
processes cost more than they give, and digits and the MNIST sample train exactly as they always
have. A larger split (a folder of 200k faces is 9.8 GB as float32, 2.5 GB as uint8) stays in
its memory-mapped uint8 cache (``data/mapped.py``); ``data.loader_workers`` DataLoader workers
read each batch's rows, pinned on CUDA, and the batch is copied to the device as uint8
(non-blocking from pinned memory) and made float32 there. Only a user's ``folder:PATH`` can stay
on disk; the built-in and npz datasets come from their loaders in memory, and stay there.

Exact resume holds on both paths, and they give the same batches: an epoch's order is one
``torch.randperm`` drawn from the run's shuffle generator (seeded with ``train.seed``, saved in
every checkpoint) in the training process, cut into the same per-rank shards
(``iterate_batches``); the DataLoader is handed those index batches as its sampler, so it draws
nothing itself. It gets a private generator for the base seed every DataLoader iterator draws,
which would otherwise come from the global RNG that the models' noise is drawn from. The
workers hold no state between epochs, and the float32 images are ``uint8 / 255`` on both paths:
a run on either path, resumed or not, trains on bit-identical batches.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from genimg.config.run_config import DataConfig
from genimg.data.dataset import ImageDataset
from genimg.data.mapped import MappedImages
from genimg.data.memory import memory_budget_bytes, parallel_runs
from genimg.train.device import pinned_copies
from genimg.train.distributed import DistInfo

MAX_DEFAULT_WORKERS = 4
GPU_MEMORY_FRACTION = 0.25  # on CUDA an in-memory split lives in the GPU's memory, beside the model's
PREFETCH_BATCHES = 2  # per worker: enough to hide a read behind a step


def memory_budget(data: DataConfig, device: torch.device) -> int | None:
    """The float32 bytes a split may take in memory before it is streamed from disk (None: no limit)."""
    budget = memory_budget_bytes(data.max_memory_gb)
    if data.max_memory_gb is None and device.type == "cuda":
        gpu = int(torch.cuda.get_device_properties(device).total_memory * GPU_MEMORY_FRACTION)
        budget = gpu if budget is None else min(budget, gpu)
    return budget


def loader_workers(data: DataConfig) -> int:
    """``data.loader_workers``, or half this run's share of the cores (at least 1, at most 4)."""
    if data.loader_workers is not None:
        return data.loader_workers
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cores // parallel_runs() // 2))


def iterate_batches(n: int, batch_size: int, generator: torch.Generator, info: DistInfo) -> Iterator[torch.Tensor]:
    """Shuffled global batches; each rank yields its equal shard of every global batch."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        global_batch = order[start : start + batch_size]
        if info.enabled and len(global_batch) < info.world_size:
            continue  # a final batch too small to shard: skip it on every rank alike
        yield global_batch[info.rank :: info.world_size]


def training_batches(
    data: ImageDataset, batch_size: int, generator: torch.Generator, info: DistInfo, device: torch.device, workers: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch's shuffled (images, labels) batches on ``device``: this rank's shard of each."""
    if not data.mapped:
        for local in iterate_batches(len(data), batch_size, generator, info):
            yield data.images[local], data.labels[local]
        return
    # The whole epoch's order now, from the run's generator: what the in-memory path draws.
    yield from _stream(data, list(iterate_batches(len(data), batch_size, generator, info)), device, workers)


def evaluation_batches(
    data: ImageDataset, batch_size: int, info: DistInfo, device: torch.device, workers: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """A split in order, in (images, labels) batches on ``device``: this rank's share of it."""
    idx = torch.arange(len(data))[info.rank :: info.world_size]
    chunks = [idx[start : start + batch_size] for start in range(0, len(idx), batch_size)]
    if not data.mapped:
        for b in chunks:
            yield data.images[b], data.labels[b]
        return
    yield from _stream(data, chunks, device, workers)


class _Rows(Dataset):
    """What a DataLoader worker does: read a batch's uint8 rows (an index tensor at a time)."""

    def __init__(self, images: MappedImages, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images.uint8(index), self.labels[index]


def _stream(
    data: ImageDataset, batches: Iterable[torch.Tensor], device: torch.device, workers: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    assert isinstance(data.images, MappedImages)  # a split in memory is sliced, never streamed (above)
    mapped = data.images
    pinned = pinned_copies(device)
    loader = DataLoader(
        _Rows(mapped, data.labels.cpu()),
        sampler=batches,  # each item is a whole batch's indices, drawn above
        batch_size=None,
        num_workers=workers,
        pin_memory=pinned,
        generator=torch.Generator(),  # the base seed every iterator draws: not from the global RNG
        worker_init_fn=_leave_interrupts_to_the_trainer,
        prefetch_factor=PREFETCH_BATCHES if workers else None,
    )
    for pixels, labels in loader:
        images = mapped.convert(pixels.to(device, non_blocking=pinned))
        yield images, labels.to(device, non_blocking=pinned)


def _leave_interrupts_to_the_trainer(worker_id: int) -> None:
    """Ctrl-C reaches every process of the terminal's group; the trainer stops between steps and
    checkpoints (train/interrupt.py), which it cannot do if its workers have died of it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
