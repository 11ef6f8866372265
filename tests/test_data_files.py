"""folder:PATH and npz:PATH: user images in, float32 [0, 1] NCHW tensors with labels out."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.data import SPLITS, load_dataset
from genimg.data import files as files_module
from genimg.data.files import split_indices
from genimg.errors import UserError


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("GENIMG_CACHE", str(path))
    return path


def random_pixels(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def write_images(folder, arrays: dict[str, np.ndarray]) -> None:
    """arrays: file name -> (H, W) grey or (H, W, 3|4) colour uint8 pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in arrays.items():
        Image.fromarray(pixels).save(folder / name)


def load_all_splits(name: str, **options):
    return {s: load_dataset(name, s, **options) for s in SPLITS}


# ---------------------------------------------------------------------------- folder:PATH


def test_grey_folder_is_split_80_10_10_with_a_fixed_seed(tmp_path):
    arrays = {f"img{i:02d}.png": random_pixels(i, (8, 8)) for i in range(20)}
    write_images(tmp_path / "grey", arrays)
    splits = load_all_splits(f"folder:{tmp_path / 'grey'}")

    assert [len(splits[s]) for s in SPLITS] == [16, 2, 2]
    names = sorted(arrays)
    for split, data in splits.items():
        assert data.images.shape[1:] == (1, 8, 8) and data.images.dtype == torch.float32
        assert data.levels == 256 and data.num_classes == 1 and data.class_names is None
        assert data.labels.tolist() == [0] * len(data)
        expected_files = [names[i] for i in split_indices(20, split)]
        assert data.extra["files"] == expected_files
        expected = np.stack([arrays[f] for f in expected_files])[:, None]
        assert torch.equal(data.pixel_indices(), torch.from_numpy(expected).long())  # exact k/255
    every = sorted(f for data in splits.values() for f in data.extra["files"])
    assert every == names  # the three splits partition the folder


def test_split_indices_are_deterministic_and_disjoint():
    parts = {s: split_indices(101, s) for s in SPLITS}
    assert [len(parts[s]) for s in SPLITS] == [81, 10, 10]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(101))
    assert np.array_equal(split_indices(101, "val"), parts["val"])
    assert not np.array_equal(split_indices(101, "val", seed=1), parts["val"])


@pytest.mark.parametrize("extension", ["png", "bmp", "tif"])
def test_rgb_folder_keeps_exact_pixels(tmp_path, extension):
    arrays = {f"c{i:02d}.{extension}": random_pixels(i, (6, 5, 3)) for i in range(10)}
    write_images(tmp_path / "rgb", arrays)
    train = load_dataset(f"folder:{tmp_path / 'rgb'}", "train")
    assert train.images.shape == (8, 3, 6, 5)
    expected = np.stack([arrays[f] for f in train.extra["files"]]).transpose(0, 3, 1, 2)
    assert torch.equal(train.pixel_indices(), torch.from_numpy(expected).long())


def test_jpeg_is_read(tmp_path):
    write_images(tmp_path / "jpg", {f"{i}.jpg": np.full((8, 8, 3), 25 * i, np.uint8) for i in range(10)})
    train = load_dataset(f"folder:{tmp_path / 'jpg'}", "train")
    assert train.images.shape == (8, 3, 8, 8)
    means = train.images.mean((1, 2, 3)) * 255
    assert torch.allclose(means, torch.tensor([25.0 * int(f[0]) for f in train.extra["files"]]), atol=2)


def test_mixed_grey_and_rgb_become_rgb(tmp_path):
    grey = random_pixels(0, (4, 4))
    colour = random_pixels(1, (4, 4, 3))
    rgba = np.dstack([random_pixels(2, (4, 4, 3)), np.full((4, 4), 7, np.uint8)])
    arrays = {"a_grey.png": grey, "b_rgb.png": colour, "c_rgba.png": rgba}
    arrays.update({f"d{i}.png": grey for i in range(7)})
    write_images(tmp_path / "mixed", arrays)
    splits = load_all_splits(f"folder:{tmp_path / 'mixed'}")
    by_file = {f: img for data in splits.values() for f, img in zip(data.extra["files"], data.pixel_indices())}
    assert by_file["a_grey.png"].shape == (3, 4, 4)
    assert torch.equal(by_file["a_grey.png"], torch.from_numpy(grey).long().expand(3, 4, 4))
    assert torch.equal(by_file["b_rgb.png"], torch.from_numpy(colour.transpose(2, 0, 1)).long())
    assert torch.equal(by_file["c_rgba.png"], torch.from_numpy(rgba[..., :3].transpose(2, 0, 1)).long())


def test_sixteen_bit_grey_is_reduced_to_eight_bits(tmp_path):
    folder = tmp_path / "deep"
    folder.mkdir()
    wide = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 257 * 4).astype(np.uint16)  # k*4*257 -> 4k
    for i in range(10):
        Image.fromarray(wide).save(folder / f"{i}.png")
    assert Image.open(folder / "0.png").mode.startswith("I")
    train = load_dataset(f"folder:{folder}", "train")
    assert train.channels == 1
    assert torch.equal(train.pixel_indices()[0, 0], torch.arange(64).reshape(8, 8) * 4)


def test_class_subfolders_give_labels_in_sorted_order(tmp_path):
    root = tmp_path / "animals"
    write_images(root / "dogs", {f"d{i}.png": np.full((4, 4), 200, np.uint8) for i in range(6)})
    write_images(root / "cats", {f"c{i}.png": np.full((4, 4), 50, np.uint8) for i in range(5)})
    write_images(root / "cats" / "nested", {"n.png": np.full((4, 4), 50, np.uint8)})
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "dogs" / ".hidden.png").write_bytes(b"junk")
    (root / "empty").mkdir()  # no images: not a class
    splits = load_all_splits(f"folder:{root}")
    assert sum(len(d) for d in splits.values()) == 12
    for data in splits.values():
        assert data.class_names == ["cats", "dogs"] and data.num_classes == 2
        for f, label, img in zip(data.extra["files"], data.labels.tolist(), data.pixel_indices()):
            assert label == (0 if f.startswith("cats/") else 1)
            assert img.unique().item() == (50 if label == 0 else 200)


def test_train_val_test_subfolders_are_the_splits(tmp_path):
    root = tmp_path / "presplit"
    for split, count in (("train", 3), ("val", 2), ("test", 1)):
        write_images(root / split / "a", {f"{split}{i}.png": np.full((4, 4), 10, np.uint8) for i in range(count)})
        write_images(root / split / "b", {f"{split}{i}.png": np.full((4, 4), 90, np.uint8) for i in range(count)})
    splits = load_all_splits(f"folder:{root}")
    assert [len(splits[s]) for s in SPLITS] == [6, 4, 2]
    assert splits["val"].extra["files"][0] == "val/a/val0.png"
    assert splits["test"].labels.tolist() == [0, 1] and splits["test"].class_names == ["a", "b"]


def test_missing_split_subfolder(tmp_path):
    write_images(tmp_path / "p" / "train", {f"{i}.png": np.zeros((4, 4), np.uint8) for i in range(3)})
    assert len(load_dataset(f"folder:{tmp_path / 'p'}", "train")) == 3
    with pytest.raises(UserError, match=r"the val/ subfolder is missing or holds no images"):
        load_dataset(f"folder:{tmp_path / 'p'}", "val")


def test_image_size_resizes_and_centre_crops(tmp_path):
    wide = np.zeros((8, 16), np.uint8)
    wide[:, 4:12] = 255  # a white square in the middle of a black strip
    arrays = {"wide.png": wide, "small.png": np.full((4, 4), 128, np.uint8)}
    arrays.update({f"big{i}.png": np.full((32, 32), 64, np.uint8) for i in range(8)})
    write_images(tmp_path / "sizes", arrays)
    splits = load_all_splits(f"folder:{tmp_path / 'sizes'}", image_size=8)
    by_file = {f: img for data in splits.values() for f, img in zip(data.extra["files"], data.pixel_indices())}
    assert all(img.shape == (1, 8, 8) for img in by_file.values())
    assert torch.equal(by_file["wide.png"], torch.full((1, 8, 8), 255))  # the crop keeps the centre
    assert torch.equal(by_file["small.png"], torch.full((1, 8, 8), 128))
    assert torch.equal(by_file["big0.png"], torch.full((1, 8, 8), 64))
    assert splits["train"].levels == 256


def test_decoded_folder_is_cached_and_refreshed_on_change(tmp_path, monkeypatch, cache):
    folder = tmp_path / "cached"
    write_images(folder, {f"{i}.png": np.full((4, 4), i, np.uint8) for i in range(10)})
    first = load_dataset(f"folder:{folder}", "train")
    assert list((cache / "folders").glob("*.npy"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although nothing changed")

    real_decode = files_module._decode_images
    monkeypatch.setattr(files_module, "_decode_images", no_decoding)
    assert torch.equal(load_dataset(f"folder:{folder}", "train").images, first.images)

    monkeypatch.setattr(files_module, "_decode_images", real_decode)
    Image.fromarray(np.full((4, 4), 99, np.uint8)).save(folder / "0.png")
    os.utime(folder / "0.png", ns=(1, 1))
    everything = {}
    for split in SPLITS:
        data = load_dataset(f"folder:{folder}", split)
        everything.update(zip(data.extra["files"], data.pixel_indices()))
    assert everything["0.png"].unique().item() == 99  # the changed file was noticed and decoded again
    assert everything["1.png"].unique().item() == 1
    assert len(list((cache / "folders").glob("*.npy"))) == 2  # old and new versions; nothing half-written


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no image files found"):
        load_dataset(f"folder:{tmp_path / 'empty'}", "train")
    with pytest.raises(UserError, match=r"is not a directory"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}", "train")

    write_images(tmp_path / "bad", {f"{i}.png": np.zeros((4, 4), np.uint8) for i in range(9)})
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError, match=r"cannot read image broken\.png .*delete or replace"):
        load_dataset(f"folder:{tmp_path / 'bad'}", "train")

    write_images(tmp_path / "sizes", {"a.png": np.zeros((4, 4), np.uint8), "b.png": np.zeros((5, 4), np.uint8)})
    with pytest.raises(UserError) as err:
        load_dataset(f"folder:{tmp_path / 'sizes'}", "train")
    assert "a.png is 4x4, b.png is 4x5" in str(err.value) and "set data.image_size=N" in str(err.value)

    write_images(tmp_path / "both", {"loose.png": np.zeros((4, 4), np.uint8)})
    write_images(tmp_path / "both" / "cls", {"x.png": np.zeros((4, 4), np.uint8)})
    with pytest.raises(UserError, match=r"both loose images \(loose\.png, \.\.\.\) and class subfolders \(cls\)"):
        load_dataset(f"folder:{tmp_path / 'both'}", "train")

    write_images(tmp_path / "few", {f"{i}.png": np.zeros((4, 4), np.uint8) for i in range(4)})
    with pytest.raises(UserError, match=r"only 4 images, so the val split \(10%\) is empty"):
        load_dataset(f"folder:{tmp_path / 'few'}", "val")


# ---------------------------------------------------------------------------- npz:PATH


@pytest.fixture
def grey_npz(tmp_path):
    x = random_pixels(0, (30, 7, 7))
    y = np.arange(30) % 4
    path = tmp_path / "grey.npz"
    np.savez(path, x=x, y=y)
    return path, x, y


def test_npz_uint8_with_labels(grey_npz):
    path, x, y = grey_npz
    for split in SPLITS:
        data = load_dataset(f"npz:{path}", split)
        index = split_indices(30, split)
        assert data.images.shape == (len(index), 1, 7, 7) and data.levels == 256
        assert torch.equal(data.pixel_indices()[:, 0], torch.from_numpy(x[index]).long())
        assert data.labels.tolist() == y[index].tolist() and data.num_classes == 4


@pytest.mark.parametrize("layout", ["NHWC", "NCHW", "NHW1"])
def test_npz_layouts(tmp_path, layout):
    nchw = random_pixels(3, (10, 3, 5, 6)) if layout != "NHW1" else random_pixels(3, (10, 1, 5, 6))
    stored = nchw if layout == "NCHW" else nchw.transpose(0, 2, 3, 1)
    np.savez(tmp_path / "a.npz", images=stored, labels=np.zeros(10, np.int32))
    train = load_dataset(f"npz:{tmp_path / 'a.npz'}", "train")
    assert torch.equal(train.pixel_indices(), torch.from_numpy(nchw[split_indices(10, "train")]).long())
    assert train.num_classes == 1


def test_npz_float_and_bool(tmp_path):
    x = np.random.default_rng(0).random((10, 4, 4)).astype(np.float64)
    np.savez(tmp_path / "f.npz", x=x)
    train = load_dataset(f"npz:{tmp_path / 'f.npz'}", "train")
    assert train.levels is None and train.images.dtype == torch.float32
    assert torch.allclose(train.images[:, 0], torch.from_numpy(x[split_indices(10, "train")]).float())
    assert train.labels.tolist() == [0] * 8

    np.savez(tmp_path / "b.npz", x=x > 0.5)
    binary = load_dataset(f"npz:{tmp_path / 'b.npz'}", "train")
    assert binary.levels == 2 and set(binary.images.unique().tolist()) <= {0.0, 1.0}


def test_npz_split_arrays(tmp_path):
    arrays = {
        "x_train": random_pixels(0, (5, 4, 4)),
        "y_train": np.array([0, 1, 2, 0, 1]),
        "x_val": random_pixels(1, (2, 4, 4)),
        "y_val": np.array([5, 0]),
        "x_test": random_pixels(2, (3, 4, 4)),
        "y_test": np.array([1, 1, 1]),
    }
    np.savez(tmp_path / "s.npz", **arrays)
    for split in SPLITS:
        data = load_dataset(f"npz:{tmp_path / 's.npz'}", split)
        assert torch.equal(data.pixel_indices()[:, 0], torch.from_numpy(arrays[f"x_{split}"]).long())
        assert data.labels.tolist() == arrays[f"y_{split}"].tolist()
        assert data.num_classes == 6  # from every split's labels, so all splits agree


def test_npz_image_size_option(grey_npz):
    path, _, _ = grey_npz
    data = load_dataset(f"npz:{path}", "train", image_size=14)
    assert data.images.shape == (24, 1, 14, 14) and data.levels is None


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"pixels": np.zeros((10, 4, 4), np.uint8)}, r"no image array; found pixels, expected 'x' or 'images'"),
        (
            {"x": np.full((10, 4, 4), 255.0)},
            r"float pixel values lie in \[255, 255\], expected \[0, 1\]; divide 8-bit values by 255",
        ),
        ({"x": np.full((10, 4, 4), np.nan)}, r"expected \[0, 1\]"),
        ({"x": np.zeros((10, 4, 4, 4), np.uint8)}, r"no channel axis of size 1 or 3"),
        ({"x": np.zeros((10, 16), np.uint8)}, r"expected \(N, H, W\), \(N, H, W, C\) or \(N, C, H, W\) images"),
        ({"x": np.zeros((10, 4, 4), np.int16)}, r"images of type int16; save them as uint8"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(9, int)}, r"y has shape \(9,\) but there are 10 images"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": -np.ones(10, int)}, r"y has negative labels"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.full(10, 0.5)}, r"y must hold integer class labels"),
        ({"x_train": np.zeros((3, 4, 4), np.uint8)}, r"has x_train but no x_val"),
    ],
)
def test_npz_errors_name_the_file_and_the_fix(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UserError, match=message) as err:
        load_dataset(f"npz:{path}", "val")
    assert f"npz:{path}" in str(err.value) and "\n" not in str(err.value)


def test_npz_file_problems(tmp_path):
    with pytest.raises(UserError, match=r"no such file"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}", "train")
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(UserError, match=r"cannot read it as a NumPy \.npz file"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}", "train")
    np.save(tmp_path / "single.npy", np.zeros((10, 4, 4), np.uint8))
    with pytest.raises(UserError, match=r"single \.npy array, not an \.npz archive"):
        load_dataset(f"npz:{tmp_path / 'single.npy'}", "train")
    np.savez(tmp_path / "objects.npz", x=np.array([None, 1], dtype=object))
    with pytest.raises(UserError, match=r"cannot read its arrays"):
        load_dataset(f"npz:{tmp_path / 'objects.npz'}", "train")
