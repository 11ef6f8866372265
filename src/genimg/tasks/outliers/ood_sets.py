"""Out-of-distribution image sets for outlier detection, all available offline.

Every set comes out as float32 images in [0, 1], NCHW, at the model's image shape and
quantised to the model's grey levels (``levels`` of its data; left continuous when the data
is continuous), so that a discrete likelihood is defined on them exactly as on the test set.

    heldout    the classes the run was *not* trained on (a run trained with
               data.classes=[0,1,...,8] is tested on the 9s), taken from all three splits of
               its dataset: the model never saw any of them. Only meaningful when the run's
               data.classes leaves some classes out; otherwise the set is skipped with a note.
    uniform    every pixel drawn uniformly from the grey levels
    gaussian   N(0.5, 0.25^2) per pixel, clipped to [0, 1], then quantised
    constant   one random grey level per image, the same at every pixel
    inverted   1 - x of the in-distribution test images
    natural    patches of scikit-image's bundled photographs (camera, astronaut, coffee,
               chelsea, coins, moon, rocket), each photograph scaled so that its shorter side
               is 4 patch widths, then cut into random patches at the model's size
    faces      scikit-image's ``lfw_subset`` (200 faces, 25x25), resized to the model's size
    npz:PATH, folder:PATH, or a registered dataset name (e.g. mnist when it is cached):
               any other data, all its splits (a registered dataset: its test split),
               resized to the model's size, converted to its channels, quantised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F

from genimg.data.dataset import ImageDataset
from genimg.data.perturbed import random_levels
from genimg.data.registry import available_datasets, load_dataset
from genimg.data.spec import DataSpec
from genimg.errors import UserError

BUILTIN_SETS = {
    "heldout": "the classes the run was not trained on (all splits)",
    "uniform": "uniform noise over the grey levels",
    "gaussian": "Gaussian noise, mean 0.5, std 0.25, clipped",
    "constant": "one random grey level per image",
    "inverted": "1 - x of the test images",
    "natural": "patches of scikit-image's photographs",
    "faces": "scikit-image's lfw_subset faces",
}
GAUSSIAN_STD = 0.25
NATURAL_PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "coins", "moon", "rocket")
PATCHES_PER_SIDE = 4  # a photograph's shorter side becomes this many patch widths
EXTERNAL_SCHEMES = ("npz:", "folder:")


@dataclass
class OODSet:
    """One out-of-distribution set, or the reason it does not apply to this run."""

    name: str
    description: str
    images: torch.Tensor | None  # None when the set does not apply to this run (see ``skipped``)
    skipped: str | None = None  # why the set was left out


def valid_set_names() -> str:
    return ", ".join([*BUILTIN_SETS, "all", "npz:PATH", "folder:PATH", "a dataset name"])


def parse_set_names(text: str | list[str] | None) -> list[str]:
    """ "uniform,constant" (or a list) -> names; "all" or nothing -> every built-in set.

    Unknown names raise a UserError listing the valid ones; a dataset name is accepted if the
    data registry knows it (whether it loads offline is found out when it is loaded)."""
    items = text.split(",") if isinstance(text, str) else list(text or ["all"])
    names: list[str] = []
    registered = {info.name for info in available_datasets()}
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item == "all":
            names += [n for n in BUILTIN_SETS if n not in names]
        elif item in BUILTIN_SETS or item.startswith(EXTERNAL_SCHEMES) or item in registered:
            if item not in names:
                names.append(item)
        else:
            raise UserError(f"unknown OOD set '{item}'; choose from {valid_set_names()} (comma-separated)")
    if not names:
        raise UserError(f"no OOD set given; choose from {valid_set_names()} (comma-separated)")
    return names


# ---------------------------------------------------------------------------- shaping helpers


def quantize(images: torch.Tensor, levels: int | None) -> torch.Tensor:
    """Snap [0, 1] values to the nearest of ``levels`` grey levels k / (levels - 1)."""
    images = images.clamp(0, 1).float()
    if levels is None:
        return images
    return torch.round(images * (levels - 1)) / (levels - 1)


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey <-> RGB: grey is repeated; RGB becomes ITU-R 601 luma (what Pillow's convert("L") uses)."""
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def fit_to_spec(images: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Resize (bilinear, antialiased) to the model's size, match its channels, quantise to its levels."""
    c, h, w = spec.image_shape
    images = to_channels(images.float(), c)
    if images.shape[-2:] != (h, w):
        images = F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return quantize(images, spec.levels)


def at_most(images: torch.Tensor, n: int | None, generator: torch.Generator) -> torch.Tensor:
    """All the images (n None or at least their number), or a random n of them."""
    if n is None or images.shape[0] <= n:
        return images
    return images[torch.randperm(images.shape[0], generator=generator)[:n]]


# ---------------------------------------------------------------------------- the sets


def make_ood_set(
    name: str,
    spec: DataSpec,
    test: ImageDataset,
    n: int,
    generator: torch.Generator,
    *,
    data_options: dict | None = None,
) -> OODSet:
    """Build OOD set ``name`` with at most ``n`` images shaped like the model's data.

    ``test`` is the in-distribution test split (for ``inverted``); ``data_options`` is the
    run's data config as a dict (dataset, classes, root, image_size, binarize) for ``heldout``.
    """
    shape = (n, *spec.image_shape)
    description = BUILTIN_SETS.get(name, f"external data {name}")
    if name == "heldout":
        return _heldout(spec, n, generator, data_options or {})
    if name == "uniform":
        images = random_levels(shape, spec.levels, generator)
    elif name == "gaussian":
        images = (0.5 + GAUSSIAN_STD * torch.randn(shape, generator=generator)).clamp(0, 1)
    elif name == "constant":
        images = random_levels((n, 1, 1, 1), spec.levels, generator).expand(shape).contiguous()
    elif name == "inverted":
        images = 1 - at_most(test.in_memory_images.cpu(), n, generator)
    elif name == "natural":
        images = natural_patches(spec, n, generator)
    elif name == "faces":
        images = at_most(faces(), n, generator)
    else:
        images = at_most(_external(name, spec), n, generator)
    return OODSet(name, description, fit_to_spec(images, spec))


def _heldout(spec: DataSpec, n: int, generator: torch.Generator, data: dict) -> OODSet:
    description = BUILTIN_SETS["heldout"]
    classes = data.get("classes")
    if classes is None:
        return OODSet(
            "heldout",
            description,
            None,
            skipped="the run was trained on every class, so no class is held out; train with "
            "data.classes=[...] leaving some out (e.g. classes=[0,1,2,3,4,5,6,7,8]) "
            "to test on the rest",
        )
    options = {k: data.get(k) for k in ("root", "image_size", "binarize")}
    splits = [load_dataset(data["dataset"], split, **options) for split in ("train", "val", "test")]
    images = torch.cat([s.in_memory_images for s in splits])
    labels = torch.cat([s.labels for s in splits])
    unseen = sorted(set(range(splits[0].num_classes)) - set(classes))
    keep = ~torch.isin(labels, torch.as_tensor(list(classes), dtype=torch.long))
    if not keep.any():
        return OODSet(
            "heldout", description, None, skipped=f"the dataset has no images outside the trained classes {classes}"
        )
    return OODSet(
        "heldout",
        f"classes {unseen}, which the run never saw (all splits)",
        fit_to_spec(at_most(images[keep], n, generator), spec),
    )


def natural_patches(spec: DataSpec, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random patches at the model's size from scikit-image's photographs, as evenly
    spread over the photographs as n allows. Each photograph is first scaled (antialiased) so
    its shorter side is PATCHES_PER_SIDE patch widths: a patch then holds a piece of a scene
    (an edge, a texture), where a patch at native resolution would be nearly flat."""
    c, h, w = spec.image_shape
    per_photo = [n // len(NATURAL_PHOTOS) + (i < n % len(NATURAL_PHOTOS)) for i in range(len(NATURAL_PHOTOS))]
    patches = []
    for photo_name, count in zip(NATURAL_PHOTOS, per_photo):
        if not count:
            continue
        photo = _as_tensor(getattr(skimage.data, photo_name)())
        photo = to_channels(photo, c)
        scale = PATCHES_PER_SIDE * max(h, w) / min(photo.shape[-2:])
        size = (max(h, round(photo.shape[-2] * scale)), max(w, round(photo.shape[-1] * scale)))
        photo = F.interpolate(photo, size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        tops = torch.randint(0, size[0] - h + 1, (count,), generator=generator)
        lefts = torch.randint(0, size[1] - w + 1, (count,), generator=generator)
        patches += [photo[:, top : top + h, left : left + w] for top, left in zip(tops.tolist(), lefts.tolist())]
    return torch.stack(patches)


def faces() -> torch.Tensor:
    """scikit-image's 200 LFW faces (25x25 greyscale) as (200, 1, 25, 25) in [0, 1]."""
    return torch.from_numpy(skimage.data.lfw_subset()).float().unsqueeze(1).clamp(0, 1)


def _as_tensor(array) -> torch.Tensor:
    """A NumPy photograph (H, W) or (H, W, C), uint8 or bool, as a (1, C, H, W) float tensor in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(array)).float()
    if array.dtype == np.uint8:
        x = x / 255.0
    if x.dim() == 2:
        x = x[None]
    else:
        x = x[..., :3].permute(2, 0, 1)  # drop an alpha channel
    return x.unsqueeze(0)


def _external(name: str, spec: DataSpec) -> torch.Tensor:
    """Images of another dataset: every split of npz:/folder: data, the test split of a registered one."""
    splits = ("train", "val", "test") if name.startswith(EXTERNAL_SCHEMES) else ("test",)
    parts: list[torch.Tensor] = []
    first_error: UserError | None = None
    for split in splits:
        try:
            parts.append(load_dataset(name, split, image_size=spec.image_size).in_memory_images)
        except UserError as err:  # a small npz/folder may have an empty val or test split
            first_error = first_error or err
    if not parts:
        assert first_error is not None  # every split failed, with an error
        raise first_error
    return torch.cat(parts)
