"""Your own images: ``folder:PATH`` (any image files Pillow reads) and ``npz:PATH`` (NumPy arrays).

folder:PATH
    Every file Pillow can open (png, jpg, bmp, gif, tiff, webp, ...) under PATH; hidden files
    and other extensions are skipped. Labels: if PATH has one subfolder per class (the
    ImageFolder layout), a label is the index of its subfolder in sorted order and
    ``class_names`` are the subfolder names; otherwise every image has label 0.
    Splits: if PATH has ``train/``, ``val/``, ``test/`` subfolders (each flat or with class
    subfolders) they are the splits; otherwise the sorted file list is shuffled with a fixed
    seed (``SPLIT_SEED``) and cut 80 / 10 / 10 into train / val / test, the same cut every time.
    Colour: if every image is greyscale the data has 1 channel, otherwise all are converted
    to RGB (an alpha channel is dropped). 16-bit greyscale is reduced to 8 bits.
    Size: all images must have the same size unless ``image_size`` (``data.image_size=N``)
    is set; then each is scaled (bilinear, antialiased) so its shorter side is N and
    centre-cropped to N x N.
    The decoded images are cached as one uint8 array in ``$GENIMG_CACHE/folders``, keyed by
    the folder, every file's size and modification time, and ``image_size``: a changed file
    is noticed, and the second load reads one file. The entry carries its SHA-256, so a
    damaged one is decoded again rather than trusted. It is decoded into and read from a
    memory map (``memmap.py``), never held whole: with ``mapped=True`` (what training asks for,
    through ``load_dataset``'s ``max_bytes``) a split stays there as ``MappedImages`` and is
    read a batch at a time; otherwise its rows are read into one float32 tensor. An image
    Pillow cannot decode (cut short, garbled, a broken PNG checksum) is one UserError naming
    the file.

npz:PATH
    Images in an array named ``x`` or ``images``, of shape (N, H, W), (N, H, W, C) or
    (N, C, H, W) with C = 1 or 3; uint8 (divided by 255), bool, or float in [0, 1].
    Labels, optional, in ``y`` or ``labels`` (integers >= 0; default all 0). Splits: arrays
    ``x_train``, ``x_val``, ``x_test`` (with ``y_train``, ...) if present, else the same
    seeded 80 / 10 / 10 cut of ``x`` as for folders.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genimg.data.dataset import SPLITS, ImageDataset
from genimg.data.download import cache_dir
from genimg.data.mapped import MappedImages
from genimg.data.memmap import array_writer, open_checked_array
from genimg.errors import UserError

SPLIT_SEED = 0
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1
FOLDER_CACHE_VERSION = 2  # bump when the decoded cache's content changes (2: checked entries)


def split_indices(n: int, split: str, seed: int = SPLIT_SEED) -> np.ndarray:
    """Indices of ``split`` in a deterministic 80 / 10 / 10 cut of ``n`` items (sorted ascending)."""
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = round(n * TEST_FRACTION), round(n * VAL_FRACTION)
    parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    return np.sort(parts[split])


# ---------------------------------------------------------------------------- folder:PATH


def load_folder(
    split: str, *, path: str, root=None, image_size: int | None = None, mapped: bool = False
) -> ImageDataset:
    folder = Path(path).expanduser()
    where = f"folder:{path}"
    if not folder.is_dir():
        raise UserError(f"{where}: {folder} is not a directory; give the folder holding your images")
    entries, class_names = _scan_folder(folder, where)
    if not entries:
        raise UserError(
            f"{where}: no image files found (looked for {', '.join(_common_extensions())}, ...); "
            f"put images there, optionally one subfolder per class"
        )
    images = _decoded_folder(folder, [e[0] for e in entries], image_size, where)

    split_tags = [e[2] for e in entries]
    if split_tags[0] is not None:  # train/ val/ test/ subfolders
        index = np.array([i for i, tag in enumerate(split_tags) if tag == split], dtype=np.int64)
        if not len(index):
            raise UserError(
                f"{where}: the {split}/ subfolder is missing or holds no images; add images to {folder / split}"
            )
    else:
        index = split_indices(len(entries), split)
        if not len(index):
            raise UserError(
                f"{where}: only {len(entries)} images, so the {split} split ({_fraction(split)}) is empty; "
                f"add images, or make train/ val/ test/ subfolders"
            )
    labels = torch.tensor([entries[i][1] for i in index], dtype=torch.long)
    rows = MappedImages.of(images, index)
    return ImageDataset(
        name=where,
        split=split,
        images=rows if mapped else rows.materialize(),
        labels=labels,
        num_classes=max(len(class_names), 1),
        levels=256,
        class_names=class_names or None,
        source=str(folder),
        extra={"files": [entries[i][0] for i in index]},
    )


def _fraction(split: str) -> str:
    return {"train": "80%", "val": f"{VAL_FRACTION:.0%}", "test": f"{TEST_FRACTION:.0%}"}[split]


def _scan_folder(folder: Path, where: str) -> tuple[list[tuple[str, int, str | None]], list[str]]:
    """Image files as (path relative to folder, label, split or None), and the class names."""
    split_dirs = [s for s in SPLITS if (folder / s).is_dir()]
    if split_dirs:
        per_split = {s: _scan_tree(folder / s, f"{where}/{s}") for s in split_dirs}
        labelled = {s: any(cls is not None for _, cls in files) for s, files in per_split.items() if files}
        if len(set(labelled.values())) > 1:
            raise UserError(
                f"{where}: some split folders have class subfolders and some do not; use the same layout in "
                f"{', '.join(split_dirs)}"
            )
        class_names = sorted({cls for files in per_split.values() for _, cls in files if cls is not None})
        entries: list[tuple[str, int, str | None]] = [
            (f"{s}/{rel}", class_names.index(cls) if cls is not None else 0, s)
            for s, files in per_split.items()
            for rel, cls in files
        ]
        return entries, class_names
    files = _scan_tree(folder, where)
    class_names = sorted({cls for _, cls in files if cls is not None})
    return [(rel, class_names.index(cls) if cls is not None else 0, None) for rel, cls in files], class_names


def _scan_tree(folder: Path, where: str) -> list[tuple[str, str | None]]:
    """Sorted (relative path, class) pairs: loose images have class None; a subfolder is a class."""
    extensions = _image_extensions()
    loose = sorted(p.name for p in folder.iterdir() if _is_image(p, extensions))
    classes = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            p.relative_to(folder).as_posix()
            for p in sub.rglob("*")
            if _is_image(p, extensions) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        if files:
            classes[sub.name] = files
    if loose and classes:
        raise UserError(
            f"{where}: has both loose images ({loose[0]}, ...) and class subfolders ({', '.join(classes)}); "
            f"move the loose images into a class subfolder, or flatten the subfolders"
        )
    if classes:
        return [(rel, cls) for cls, files in classes.items() for rel in files]
    return [(name, None) for name in loose]


def _image_extensions() -> set[str]:
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def _common_extensions() -> list[str]:
    return [e for e in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".webp") if e in _image_extensions()]


def _is_image(path: Path, extensions: set[str]) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in extensions


def _decoded_folder(folder: Path, relpaths: list[str], image_size: int | None, where: str) -> np.memmap:
    """All images as one uint8 NCHW array, memory-mapped: decoded once, then read from the cache."""
    identity = [FOLDER_CACHE_VERSION, str(folder.resolve()), image_size]
    for rel in relpaths:
        stat = (folder / rel).stat()
        identity.append((rel, stat.st_size, stat.st_mtime_ns))
    key = hashlib.sha256(repr(identity).encode()).hexdigest()[:24]
    cached = cache_dir() / "folders" / f"{key}.npy"
    # a non-empty array is a memory map (open_checked_array maps only files that hold bytes)
    images = open_checked_array(cached)
    if isinstance(images, np.memmap) and _decoded_array(images, len(relpaths)):  # None: missing, or damaged
        return images  # and so decoded again, never trusted
    _decode_images(folder, relpaths, image_size, where, cached)
    images = open_checked_array(cached, verify=False)  # just written and hashed
    if not isinstance(images, np.memmap):
        raise UserError(f"{where}: cannot read back the decoded images from {cached}; check that disk, then retry")
    return images


def _decoded_array(images: np.ndarray | None, n: int) -> bool:
    return images is not None and images.dtype == np.uint8 and images.ndim == 4 and len(images) == n


_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N"}


def _decode_images(folder: Path, relpaths: list[str], image_size: int | None, where: str, cached: Path) -> None:
    """Decode every image into the cache file ``cached``, through a memory map: a folder larger
    than memory is decoded with the memory of one image."""
    # First pass reads headers only (cheap), to settle the channel count and check sizes.
    modes, sizes = [], []
    for rel in relpaths:
        try:
            with Image.open(folder / rel) as im:
                modes.append(im.mode)
                sizes.append(im.size)
        except Exception as err:  # Pillow raises many types for a damaged file (OSError, SyntaxError, ...)
            raise UserError(f"{where}: cannot read image {rel} ({_short(err)}); delete or replace the file") from None
    grey = all(mode in _GREY_MODES for mode in modes)
    if image_size is None and len(set(sizes)) > 1:
        first = sizes[0]
        odd = next(i for i, s in enumerate(sizes) if s != first)
        raise UserError(
            f"{where}: images differ in size ({relpaths[0]} is {first[0]}x{first[1]}, {relpaths[odd]} is "
            f"{sizes[odd][0]}x{sizes[odd][1]}); set data.image_size=N to resize them all to N x N"
        )
    width, height = (image_size, image_size) if image_size is not None else sizes[0]
    with array_writer(cached, (len(relpaths), 1 if grey else 3, height, width), np.uint8) as out:
        for i, rel in enumerate(relpaths):
            try:
                with Image.open(folder / rel) as im:
                    im.load()
                    out[i] = _pixels(im, grey, image_size, f"{where}: image {rel}")
            except UserError:
                raise
            except Exception as err:  # Pillow raises many types for a damaged file (OSError, SyntaxError, ...)
                raise UserError(
                    f"{where}: cannot read image {rel} ({_short(err)}); delete or replace the file"
                ) from None


def _short(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0][:100]


def _pixels(im, grey: bool, image_size: int | None, where: str) -> np.ndarray:
    """One image as uint8 (C, H, W): greyscale or RGB, alpha dropped, optionally resized and cropped."""
    if im.mode.startswith("I"):  # 16-bit (or 32-bit integer) greyscale: keep the top 8 bits' worth
        wide = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8), mode="L")
    elif im.mode == "F":
        raise UserError(f"{where} holds floating-point pixels; save it as an 8-bit image")
    im = im.convert("L" if grey else "RGB")
    if image_size is not None and im.size != (image_size, image_size):
        width, height = im.size
        scale = image_size / min(width, height)
        scaled = (max(image_size, round(width * scale)), max(image_size, round(height * scale)))
        im = im.resize(scaled, Image.Resampling.BILINEAR)
        left, top = (scaled[0] - image_size) // 2, (scaled[1] - image_size) // 2
        im = im.crop((left, top, left + image_size, top + image_size))
    pixels = np.asarray(im, dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


# ---------------------------------------------------------------------------- npz:PATH


def load_npz(split: str, *, path: str, root=None, image_size: int | None = None) -> ImageDataset:
    file = Path(path).expanduser()
    where = f"npz:{path}"
    if not file.is_file():
        raise UserError(f"{where}: no such file {file}; give the path of a .npz file")
    try:
        loaded = np.load(file, allow_pickle=False)
    except Exception as err:  # np.load raises several types for a file that is not NumPy's
        raise UserError(
            f"{where}: cannot read it as a NumPy .npz file ({type(err).__name__}: {err}); save it with numpy.savez"
        ) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise UserError(
            f"{where}: is a single .npy array, not an .npz archive; save it with numpy.savez(path, x=images)"
        )
    try:
        with loaded:
            contents = {k: loaded[k] for k in loaded.files}
    except Exception as err:  # a damaged member, or an object array that would need pickle
        raise UserError(
            f"{where}: cannot read its arrays ({type(err).__name__}: {err}); save plain arrays with numpy.savez"
        ) from None

    if any(f"x_{s}" in contents for s in SPLITS):
        name = f"x_{split}"
        if name not in contents:
            present = ", ".join(k for k in contents if k.startswith("x_"))
            raise UserError(f"{where}: has {present} but no {name}; add {name} or ask for another split")
        all_labels = {
            s: _labels_for(contents, f"{s}", len(contents[f"x_{s}"]), where) for s in SPLITS if f"x_{s}" in contents
        }
        images = _images_from_array(contents[name], f"{where} ({name})")
        labels = all_labels[split]
    else:
        key = next((k for k in ("x", "images") if k in contents), None)
        if key is None:
            raise UserError(
                f"{where}: no image array; found {', '.join(contents) or 'nothing'}, expected 'x' or 'images' "
                f"(or x_train/x_val/x_test); save with numpy.savez(path, x=images, y=labels)"
            )
        n = len(contents[key])
        index = split_indices(n, split)
        if not len(index):
            raise UserError(
                f"{where}: only {n} images, so the {split} split ({_fraction(split)}) is empty; "
                f"add images or give x_{split}"
            )
        all_labels = {"all": _labels_for(contents, None, n, where)}
        images = _images_from_array(contents[key][index], f"{where} ({key})")
        labels = all_labels["all"][index]
    x, levels = images
    num_classes = max(int(max((lab.max() for lab in all_labels.values() if lab.size), default=0)) + 1, 1)
    return ImageDataset(
        name=where,
        split=split,
        images=x,
        labels=torch.from_numpy(labels),
        num_classes=num_classes,
        levels=levels,
        source=str(file),
    )


def _labels_for(contents: dict, split: str | None, n: int, where: str) -> np.ndarray:
    names = [f"y_{split}", f"labels_{split}"] if split else ["y", "labels"]
    name = next((k for k in names if k in contents), None)
    if name is None:
        return np.zeros(n, dtype=np.int64)
    labels = contents[name]
    if labels.shape != (n,):
        raise UserError(f"{where}: {name} has shape {labels.shape} but there are {n} images; give one label per image")
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iub":
        raise UserError(f"{where}: {name} must hold integer class labels, got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise UserError(f"{where}: {name} has negative labels ({labels.min()}); use class indices 0, 1, 2, ...")
    return labels.astype(np.int64)


def _images_from_array(array: np.ndarray, where: str) -> tuple[torch.Tensor, int | None]:
    """float32 NCHW images in [0, 1] and their number of grey levels (None if continuous)."""
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        if array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
            array = array.transpose(0, 3, 1, 2)
        elif array.shape[1] not in (1, 3):
            raise UserError(
                f"{where}: shape {array.shape} has no channel axis of size 1 or 3; give (N, H, W), "
                f"(N, H, W, C) or (N, C, H, W) with C = 1 (grey) or 3 (RGB)"
            )
    else:
        raise UserError(f"{where}: expected (N, H, W), (N, H, W, C) or (N, C, H, W) images, got shape {array.shape}")
    if array.dtype == np.uint8:
        return torch.from_numpy(array.astype(np.float32)).div_(255.0), 256
    if array.dtype == np.bool_:
        return torch.from_numpy(array.astype(np.float32)), 2
    if array.dtype.kind != "f":
        raise UserError(f"{where}: images of type {array.dtype}; save them as uint8 (0..255) or float in [0, 1]")
    if array.size:
        lo, hi = float(np.min(array)), float(np.max(array))
        if not (0.0 <= lo and hi <= 1.0):  # also catches NaN, which fails both comparisons
            raise UserError(
                f"{where}: float pixel values lie in [{lo:.4g}, {hi:.4g}], expected [0, 1]; "
                f"divide 8-bit values by 255 (or save them as uint8)"
            )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)), None
