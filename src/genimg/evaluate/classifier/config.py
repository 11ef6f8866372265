"""The classifier's config (what the cache key is made of) and its recipe (every automatic choice made)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from genimg.data.dataset import ImageDataset
from genimg.errors import UserError
from genimg.evaluate.extractor import sha256_of_json

Augment = Literal["shift", "affine"]
AUGMENTATIONS: tuple[Augment, ...] = get_args(Augment)
# Bump when a change to this file changes what a given config trains (the auto sizing rules,
# the loop, the augmentation): old cache entries then stop matching instead of being reused.
RECIPE_VERSION = 2  # 2: the 28x28 and 32x32 recipe (narrower, dense features, affine augmentation)

WEIGHTS_FILE = "model.safetensors"
INFO_FILE = "info.json"


@dataclass(frozen=True)
class ClassifierConfig:
    dataset: str = "digits"
    image_size: int | None = None  # resize the data to this square size, as the generative models saw it
    widths: tuple[int, ...] | None = None  # conv width per stage; None: (32, 64) up to 16x16, else (16, 32, 64)
    dense: int | None = None  # units of a dense feature layer; 0: averaged maps; None: 0 up to 16x16, else 128
    epochs: int | None = None  # None: 40 for up to 10,000 training images at 8x8, 20 larger; 15 beyond 10,000
    batch_size: int = 64
    lr: float = 3e-3  # peak of the one-cycle schedule (AdamW)
    weight_decay: float = 5e-4
    max_shift: int | None = None  # random translation in pixels; None: image size // 8 (1 on digits)
    augment: Augment | None = None  # shift, or affine (shift, rotation, scale); None: shift up to 16x16, else affine
    seed: int = 0
    threads: int | None = 1  # torch threads while training; fixed so the float summation order is too
    recipe: int = RECIPE_VERSION

    def __post_init__(self) -> None:
        if self.widths is not None and (len(self.widths) == 0 or min(self.widths) < 1):
            raise UserError(f"classifier widths must be a non-empty list of positive integers, got {self.widths}")
        if self.augment not in (None, *AUGMENTATIONS):
            raise UserError(f"classifier augment must be one of {', '.join(AUGMENTATIONS)}, got '{self.augment}'")
        for name in ("batch_size", "epochs", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"classifier {name} must be at least 1, got {value}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths) if self.widths is not None else None
        return d

    def hash(self) -> str:
        return sha256_of_json(self.to_dict())

    def cache_name(self) -> str:
        """Directory name in the cache: readable dataset name plus 12 hex of the config's hash."""
        return f"{safe_name(self.dataset)}-{self.hash()[:12]}"


@dataclass(frozen=True)
class Recipe:
    """The config with every automatic choice made, from the data's shape and size."""

    input_shape: tuple[int, int, int]
    num_classes: int
    widths: tuple[int, ...]
    epochs: int
    max_shift: int
    dense: int = 0  # 0: the features are the averaged last maps
    augment: Augment = "shift"

    @classmethod
    def resolve(cls, config: ClassifierConfig, train: ImageDataset) -> Recipe:
        size = train.image_size
        small = size <= 16
        widths = config.widths or ((32, 64) if small else (16, 32, 64))
        if size < 2 ** (len(widths) - 1):
            raise UserError(
                f"classifier with {len(widths)} stages needs images of at least {2 ** (len(widths) - 1)} pixels, "
                f"got {size}; give fewer widths"
            )
        epochs = config.epochs or ((40 if small else 20) if len(train) <= 10_000 else 15)
        max_shift = config.max_shift if config.max_shift is not None else max(1, size // 8)
        dense = config.dense if config.dense is not None else (0 if small else 128)
        augment = config.augment or ("shift" if small else "affine")
        return cls(train.image_shape, train.num_classes, tuple(widths), epochs, max_shift, dense, augment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "widths": list(self.widths),
            "epochs": self.epochs,
            "max_shift": self.max_shift,
            "dense": self.dense,
            "augment": self.augment,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        shape, widths = tuple(d["input_shape"]), tuple(d["widths"])
        return cls(
            shape,
            int(d["num_classes"]),
            widths,
            int(d["epochs"]),
            int(d["max_shift"]),
            int(d.get("dense", 0)),
            d.get("augment", "shift"),
        )


def safe_name(name: str) -> str:
    """A file-name-safe version of a dataset name; for long ``folder:PATH`` names, the tail of the path."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[-40:].lstrip("_.-") or "dataset"
