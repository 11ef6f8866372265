"""scikit-learn's bundled 8x8 handwritten digits: the offline default.

1797 images with integer values 0..16 (17 grey levels). Splits follow J. Tomczak's
``intro_dgm`` protocol, in the file's order: train = first 1000, val = next 350,
test = last 447, so that likelihoods compare with that body of work.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

from genimg.data.dataset import ImageDataset
from genimg.errors import UserError

DIGITS_SPLITS = {"train": slice(0, 1000), "val": slice(1000, 1350), "test": slice(1350, 1797)}
DIGITS_LEVELS = 17


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    # Read the CSV that scikit-learn ships without importing scikit-learn: importing it costs
    # seconds on a small CPU, more than the rest of a digits training run's start-up.
    spec = importlib.util.find_spec("sklearn")
    locations = spec.submodule_search_locations if spec else None
    csv = Path(locations[0]) / "datasets" / "data" / "digits.csv.gz" if locations else None
    if csv is None or not csv.exists():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images.astype(np.float32), bunch.target.astype(np.int64)
    try:
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32).reshape(-1, 65)
    except Exception as err:  # gzip, zlib and the parser raise several types for a damaged file
        raise UserError(
            f"cannot read {csv} ({type(err).__name__}); reinstall scikit-learn (`pip install --force-reinstall "
            f"scikit-learn`)"
        ) from None
    if len(table) != 1797:
        raise UserError(f"{csv} holds {len(table)} digits, not 1797; reinstall scikit-learn")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def load_digits_split(split: str, *, root=None, image_size=None) -> ImageDataset:
    images, labels = _load_all()
    part = DIGITS_SPLITS[split]
    x = torch.from_numpy(images[part] / (DIGITS_LEVELS - 1)).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels[part])
    return ImageDataset(
        name="digits",
        split=split,
        images=x,
        labels=y,
        num_classes=10,
        levels=DIGITS_LEVELS,
        class_names=[str(i) for i in range(10)],
        source="sklearn.datasets.load_digits",
    )
