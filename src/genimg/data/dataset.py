"""One split of an image dataset, and the checks every loader's output passes.

A split's images are one float32 tensor in memory, or, for a split too large for that
(``data.max_memory_gb``), a ``MappedImages`` view of a memory-mapped uint8 cache that reads and
converts rows when asked (``mapped``): the training loop then streams it through a DataLoader.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeAlias

import torch
import torch.nn.functional as F

from genimg.data.mapped import MappedImages
from genimg.errors import UserError

SPLITS = ("train", "val", "test")
# What a split's images are: a float32 tensor in memory, or rows on disk read as one (slices, shape).
Images: TypeAlias = torch.Tensor | MappedImages


@dataclass
class ImageDataset:
    """A split of an image dataset: one float32 tensor in memory, or a ``MappedImages`` on disk.

    ``levels`` is the number of distinct grey levels when pixel values are discrete
    (17 for digits, 256 for 8-bit images, 2 when binarised): pixel values are then exactly
    ``k / (levels - 1)``, so a model can treat them as categorical. ``None`` means continuous.
    """

    name: str
    split: str
    images: Images
    labels: torch.Tensor
    num_classes: int
    levels: int | None = None
    class_names: list[str] | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_images(self.images, f"dataset '{self.name}' ({self.split})")
        if self.labels.shape != (self.images.shape[0],):
            raise UserError(
                f"dataset '{self.name}' ({self.split}): {self.images.shape[0]} images but labels of shape "
                f"{tuple(self.labels.shape)}; give one integer label per image"
            )
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        _, channels, height, width = self.images.shape  # NCHW (check_images)
        return channels, height, width

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def mapped(self) -> bool:
        """Whether the images stay on disk (read and converted per batch) rather than in memory."""
        return isinstance(self.images, MappedImages)

    @property
    def in_memory_images(self) -> torch.Tensor:
        """The images as the one float32 tensor a split in memory holds (``load_dataset`` and
        ``load_split`` without ``max_bytes`` give only such splits); a mapped split has to be
        ``materialized()`` first."""
        if isinstance(self.images, MappedImages):
            raise TypeError(f"dataset '{self.name}' ({self.split}) is memory-mapped; materialize it first")
        return self.images

    @property
    def float32_bytes(self) -> int:
        """What the images take (or would take) in memory as float32."""
        return self.images.numel() * 4

    def subset(self, index: torch.Tensor | slice) -> ImageDataset:
        images = self.images.subset(index) if isinstance(self.images, MappedImages) else self.images[index]
        return replace(self, images=images, labels=self.labels[index])

    def materialized(self) -> ImageDataset:
        """The same split with its images in memory as one float32 tensor."""
        return replace(self, images=self.images.materialize()) if isinstance(self.images, MappedImages) else self

    def binarized(self, threshold: float) -> ImageDataset:
        """Pixels above ``threshold`` set to 1, the others to 0 (static binarisation, 2 levels)."""
        if isinstance(self.images, MappedImages):
            images: Images = self.images.binarized(threshold)
        else:
            images = (self.images > threshold).float()
        return replace(self, images=images, levels=2)

    def channels_last(self) -> ImageDataset:
        """The same images laid out NHWC in memory (index slices keep the layout)."""
        if isinstance(self.images, MappedImages):
            return replace(self, images=self.images.in_channels_last())
        return replace(self, images=self.images.contiguous(memory_format=torch.channels_last))

    def to(self, device: torch.device | str) -> ImageDataset:
        """The split on ``device``; a mapped split stays on disk and on the CPU (its batches are
        moved and converted as they are read)."""
        if isinstance(self.images, MappedImages):
            return self
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def pixel_indices(self) -> torch.Tensor:
        """Pixel values as integer grey levels 0..levels-1 (only for discrete datasets)."""
        if self.levels is None:
            raise UserError(f"dataset '{self.name}' is continuous; it has no discrete grey levels")
        return to_levels(self.images[:] if isinstance(self.images, MappedImages) else self.images, self.levels)


def to_levels(images: torch.Tensor, levels: int) -> torch.Tensor:
    return torch.round(images * (levels - 1)).long().clamp_(0, levels - 1)


def check_images(images: Images, where: str) -> None:
    """Raise a UserError unless ``images`` is a float32 NCHW tensor with values in [0, 1]
    (mapped uint8 images are that by construction: only their shape is checked)."""
    mapped = isinstance(images, MappedImages)
    if not isinstance(images, torch.Tensor) and not mapped:
        raise UserError(f"{where}: expected a torch.Tensor of images, got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"{where}: expected images of shape (N, C, H, W) with C = 1 or 3, got {tuple(images.shape)}")
    if isinstance(images, MappedImages):
        return
    if images.dtype != torch.float32:
        raise UserError(f"{where}: expected float32 images in [0, 1], got {images.dtype}; convert with .float() / 255")
    if images.numel():
        lo, hi = images.min().item(), images.max().item()
        if lo < 0 or hi > 1 or images.isnan().any():
            raise UserError(
                f"{where}: pixel values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]; "
                "rescale (e.g. divide 8-bit data by 255)"
            )


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize NCHW images to size x size, keeping values in [0, 1]."""
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0, 1)
