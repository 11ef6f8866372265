"""What a model needs to know about its data to size itself: image shape, classes, grey levels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DataSpec:
    image_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    levels: int | None  # discrete grey levels, or None if continuous
    # Discrete data that a continuous density sees uniformly dequantised: x + u, u ~ U(0, 1) per level.
    dequantized: bool = False

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def image_size(self) -> int:
        return self.image_shape[-1]

    @property
    def num_pixels(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "levels": self.levels,
            "dequantized": self.dequantized,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        return cls(tuple(d["image_shape"]), int(d["num_classes"]), d.get("levels"), bool(d.get("dequantized", False)))

    @classmethod
    def of(cls, dataset, dequantized: bool = False) -> DataSpec:
        return cls(
            tuple(dataset.image_shape), dataset.num_classes, dataset.levels, dequantized and dataset.levels is not None
        )
