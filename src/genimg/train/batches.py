"""Data for the loop: the splits (in memory on the device, or on disk when too large), mean losses.

Which split stays on disk, and how batches are drawn from either kind, is ``loader.py``.
"""

from __future__ import annotations

import torch

from genimg.config.run_config import RunConfig
from genimg.data.dataset import ImageDataset
from genimg.data.registry import load_split
from genimg.errors import UserError
from genimg.models.base import Batch, GenerativeModel, eval_mode
from genimg.train.distributed import DistInfo, all_reduce_sums
from genimg.train.loader import evaluation_batches, memory_budget


def load_splits(config: RunConfig, device: torch.device) -> dict[str, ImageDataset]:
    """The three splits: each on ``device`` if it fits the memory budget, else left on disk."""
    budget = memory_budget(config.data, device)
    splits = {s: load_split(config.data, s, device, max_bytes=budget) for s in ("train", "val", "test")}
    if len(splits["train"]) == 0:
        raise UserError(f"dataset '{config.data.dataset}' has no training images with these options")
    return splits


@torch.no_grad()
def evaluate_loss(
    model: GenerativeModel, data: ImageDataset, batch_size: int, info: DistInfo, workers: int = 0
) -> dict[str, float]:
    """Mean of validation_step's scalars over a split (sharded over ranks); ``workers`` read a
    split left on disk."""
    sums: dict[str, float] = {}
    count = 0
    with eval_mode(model):
        for images, labels in evaluation_batches(data, batch_size, info, model.device, workers):
            out = model.validation_step(Batch(images, labels))
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(labels)
            count += len(labels)
    sums["_count"] = float(count)
    sums = all_reduce_sums(sums, info, model.device)
    n = sums.pop("_count")
    return {k: v / n for k, v in sums.items()} if n else {}
