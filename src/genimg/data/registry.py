"""Datasets by name. Every dataset gives float32 images in [0, 1], NCHW, with int64 labels,
in fixed named splits ("train", "val", "test").

A name is either a registered dataset ("digits", "mnist", ...) or a scheme with a path
("folder:PATH", "npz:PATH"). Loaders are registered with ``@register_dataset``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch
import torch.nn.functional as F

from genimg.errors import UserError

SPLITS = ("train", "val", "test")


@dataclass
class ImageDataset:
    """A split of an image dataset, held in memory as one tensor.

    ``levels`` is the number of distinct grey levels when pixel values are discrete
    (17 for digits, 256 for 8-bit images, 2 when binarised): pixel values are then exactly
    ``k / (levels - 1)``, so a model can treat them as categorical. ``None`` means continuous.
    """

    name: str
    split: str
    images: torch.Tensor
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
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def subset(self, index: torch.Tensor | slice) -> "ImageDataset":
        return replace(self, images=self.images[index], labels=self.labels[index])

    def to(self, device: torch.device | str) -> "ImageDataset":
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def pixel_indices(self) -> torch.Tensor:
        """Pixel values as integer grey levels 0..levels-1 (only for discrete datasets)."""
        if self.levels is None:
            raise UserError(f"dataset '{self.name}' is continuous; it has no discrete grey levels")
        return to_levels(self.images, self.levels)


def to_levels(images: torch.Tensor, levels: int) -> torch.Tensor:
    return torch.round(images * (levels - 1)).long().clamp_(0, levels - 1)


def check_images(images: torch.Tensor, where: str) -> None:
    """Raise a UserError unless ``images`` is a float32 NCHW tensor with values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise UserError(f"{where}: expected a torch.Tensor of images, got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UserError(
            f"{where}: expected images of shape (N, C, H, W) with C = 1 or 3, got {tuple(images.shape)}"
        )
    if images.dtype != torch.float32:
        raise UserError(f"{where}: expected float32 images in [0, 1], got {images.dtype}; convert with .float() / 255")
    if images.numel():
        lo, hi = images.min().item(), images.max().item()
        if lo < 0 or hi > 1 or images.isnan().any():
            raise UserError(
                f"{where}: pixel values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]; rescale (e.g. divide 8-bit data by 255)"
            )


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    offline: bool
    loader: Callable[..., ImageDataset]


_REGISTRY: dict[str, DatasetInfo] = {}
_SCHEMES: dict[str, DatasetInfo] = {}


def register_dataset(name: str, description: str, offline: bool = True, scheme: bool = False):
    """Register ``loader(split, *, root=None, image_size=None, **options) -> ImageDataset``.

    With ``scheme=True`` the name is a prefix: ``"folder:PATH"`` calls the loader with ``path=PATH``.
    """

    def decorator(loader: Callable[..., ImageDataset]):
        info = DatasetInfo(name, description, offline, loader)
        (_SCHEMES if scheme else _REGISTRY)[name] = info
        return loader

    return decorator


def available_datasets() -> list[DatasetInfo]:
    _import_builtin_loaders()
    return list(_REGISTRY.values()) + list(_SCHEMES.values())


def load_dataset(
    name: str,
    split: str = "train",
    *,
    image_size: int | None = None,
    root: str | None = None,
    binarize: float | None = None,
    classes: list[int] | tuple[int, ...] | None = None,
    limit: int | None = None,
) -> ImageDataset:
    """Load one split of a dataset by name, as float32 [0, 1] NCHW tensors with labels.

    ``image_size`` resizes (bilinear, antialiased) to a square size; ``binarize`` thresholds
    at the given value (static binarisation, levels = 2); ``classes`` keeps only those labels;
    ``limit`` keeps the first ``limit`` images (for quick experiments).
    """
    _import_builtin_loaders()
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    scheme, _, path = name.partition(":")
    if path and scheme in _SCHEMES:
        data = _SCHEMES[scheme].loader(split, path=path, root=root, image_size=image_size)
    elif name in _REGISTRY:
        data = _REGISTRY[name].loader(split, root=root, image_size=image_size)
    else:
        known = sorted(_REGISTRY) + [f"{s}:PATH" for s in sorted(_SCHEMES)]
        raise UserError(f"unknown dataset '{name}'; choose one of {', '.join(known)}")
    if image_size is not None and data.image_size != image_size:
        data = replace(data, images=resize(data.images, image_size), levels=None)
    if classes is not None:
        keep = torch.isin(data.labels, torch.as_tensor(list(classes), dtype=torch.long))
        data = data.subset(keep)
    if limit is not None:
        data = data.subset(slice(0, limit))
    if binarize is not None:
        if not 0 < binarize < 1:
            raise UserError(f"binarize threshold must lie in (0, 1), got {binarize}")
        data = replace(data, images=(data.images > binarize).float(), levels=2)
    return data


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize NCHW images to size x size, keeping values in [0, 1]."""
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0, 1)


def _import_builtin_loaders() -> None:
    # Loaders register themselves on import; importing here keeps `import genimg` light.
    from genimg.data import digits  # noqa: F401

    try:
        from genimg.data import standard  # noqa: F401  (mnist, fashion-mnist, cifar10)
    except ImportError:
        pass
    try:
        from genimg.data import files  # noqa: F401  (folder:PATH, npz:PATH)
    except ImportError:
        pass
