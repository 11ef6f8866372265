"""Datasets as in-memory tensors: float32 in [0, 1], NCHW, int64 labels, fixed named splits."""
from genimg.data.registry import (
    SPLITS,
    ImageDataset,
    available_datasets,
    check_images,
    load_dataset,
    register_dataset,
    resize,
    to_levels,
)

__all__ = [
    "SPLITS",
    "ImageDataset",
    "available_datasets",
    "check_images",
    "load_dataset",
    "register_dataset",
    "resize",
    "to_levels",
]
