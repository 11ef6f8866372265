"""Data for the loop: the splits on the device, shuffled batches as index slices, mean losses.

Data that fits in memory stays one tensor on the device and a batch is an index slice: on a
few CPU cores, DataLoader worker processes cost more than they give.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from genimg.config.run_config import RunConfig
from genimg.data.dataset import ImageDataset
from genimg.data.splits import load_split
from genimg.errors import UserError
from genimg.models.base import Batch, GenerativeModel
from genimg.train.distributed import DistInfo, all_reduce_sums


def load_splits(config: RunConfig, device: torch.device) -> dict[str, ImageDataset]:
    splits = {s: load_split(config.data, s, device) for s in ("train", "val", "test")}
    if len(splits["train"]) == 0:
        raise UserError(f"dataset '{config.data.dataset}' has no training images with these options")
    return splits


def iterate_batches(n: int, batch_size: int, generator: torch.Generator, info: DistInfo) -> Iterator[torch.Tensor]:
    """Shuffled global batches; each rank yields its equal shard of every global batch."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        global_batch = order[start : start + batch_size]
        if info.enabled and len(global_batch) < info.world_size:
            continue  # a final batch too small to shard: skip it on every rank alike
        yield global_batch[info.rank :: info.world_size]


@torch.no_grad()
def evaluate_loss(model: GenerativeModel, data: ImageDataset, batch_size: int, info: DistInfo) -> dict[str, float]:
    """Mean of validation_step's scalars over a split (sharded over ranks)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    idx = torch.arange(len(data))[info.rank :: info.world_size]
    for start in range(0, len(idx), batch_size):
        b = idx[start : start + batch_size]
        out = model.validation_step(Batch(data.images[b], data.labels[b]))
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(b)
        count += len(b)
    model.train(was_training)
    sums["_count"] = float(count)
    sums = all_reduce_sums(sums, info, data.images.device)
    n = sums.pop("_count")
    return {k: v / n for k, v in sums.items()} if n else {}
