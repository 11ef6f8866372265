"""Datasets as in-memory tensors: float32 in [0, 1], NCHW, int64 labels, fixed named splits."""

from genimg.data.dataset import SPLITS, ImageDataset, check_images, resize, to_levels
from genimg.data.registry import DatasetInfo, available_datasets, load_dataset, register_dataset
from genimg.data.spec import DataSpec
from genimg.data.splits import load_split

__all__ = [
    "SPLITS",
    "DataSpec",
    "DatasetInfo",
    "ImageDataset",
    "available_datasets",
    "check_images",
    "load_dataset",
    "load_split",
    "register_dataset",
    "resize",
    "to_levels",
]
