"""Datasets as float32 tensors in [0, 1], NCHW, int64 labels, fixed named splits; a split too
large for memory as float32 can stay in its memory-mapped uint8 cache (``MappedImages``)."""

from genimg.data.dataset import SPLITS, ImageDataset, check_images, resize, to_levels
from genimg.data.mapped import MappedImages
from genimg.data.registry import DatasetInfo, available_datasets, load_dataset, load_split, register_dataset
from genimg.data.spec import DataSpec

__all__ = [
    "SPLITS",
    "DataSpec",
    "DatasetInfo",
    "ImageDataset",
    "MappedImages",
    "available_datasets",
    "check_images",
    "load_dataset",
    "load_split",
    "register_dataset",
    "resize",
    "to_levels",
]
