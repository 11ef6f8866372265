"""A split with a run's data options: the one way every command loads its data."""

from __future__ import annotations

import torch

from genimg.config.run_config import DataConfig
from genimg.data.dataset import ImageDataset
from genimg.data.registry import load_dataset


def load_split(
    data: DataConfig, split: str, device: torch.device | str | None = None, max_bytes: int | None = None
) -> ImageDataset:
    """Split ``split`` of ``data.dataset`` with the config's size, binarisation, classes and limit;
    left on disk (``MappedImages``) if it can be and would take more than ``max_bytes`` as float32."""
    dataset = load_dataset(
        data.dataset,
        split,
        image_size=data.image_size,
        root=data.root,
        binarize=data.binarize,
        classes=data.classes,
        limit=data.limit,
        max_bytes=max_bytes,
    )
    return dataset.to(device) if device is not None else dataset
