"""The bundled digits dataset, and the options load_dataset applies to every dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from genimg.data import SPLITS, available_datasets, load_dataset
from genimg.errors import UserError


@pytest.fixture(scope="module")
def sklearn_digits():
    bunch = load_digits()
    return bunch.images, bunch.target


@pytest.fixture(scope="module")
def splits():
    return {s: load_dataset("digits", s) for s in SPLITS}


def test_split_sizes_follow_the_files_order(splits, sklearn_digits):
    images, targets = sklearn_digits
    bounds = {"train": (0, 1000), "val": (1000, 1350), "test": (1350, 1797)}
    for split, (start, stop) in bounds.items():
        data = splits[split]
        assert len(data) == stop - start
        assert np.array_equal(data.pixel_indices()[:, 0].numpy(), images[start:stop].astype(np.int64))
        assert np.array_equal(data.labels.numpy(), targets[start:stop])


def test_images_are_float32_nchw_in_unit_range_with_17_exact_levels(splits):
    for data in splits.values():
        x = data.images
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8) and x.is_contiguous()
        assert x.min() >= 0 and x.max() <= 1
        assert data.levels == 17 and data.image_shape == (1, 8, 8) and data.channels == 1
        levels = data.pixel_indices()
        assert levels.min() >= 0 and levels.max() <= 16
        # Pixel values are exactly k/16: converting back reproduces them bit for bit.
        assert torch.equal(levels.float() / 16, x)
    assert splits["train"].pixel_indices().max() == 16 and splits["train"].pixel_indices().min() == 0


def test_labels_and_class_names(splits):
    train = splits["train"]
    assert train.labels.dtype == torch.int64 and train.num_classes == 10
    assert train.class_names == [str(i) for i in range(10)]
    assert sorted(train.labels.unique().tolist()) == list(range(10))


def test_binarize(splits):
    data = load_dataset("digits", "train", binarize=0.5)
    assert data.levels == 2
    assert set(data.images.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(data.images, (splits["train"].images > 0.5).float())
    with pytest.raises(UserError, match=r"binarize threshold must lie in \(0, 1\)"):
        load_dataset("digits", "train", binarize=1.5)


def test_classes_keeps_only_those_labels_in_order(splits, sklearn_digits):
    data = load_dataset("digits", "test", classes=[3, 7])
    _, targets = sklearn_digits
    keep = np.isin(targets[1350:], [3, 7])
    assert len(data) == keep.sum() > 0
    assert set(data.labels.tolist()) == {3, 7}
    assert torch.equal(data.images, splits["test"].images[torch.from_numpy(keep)])


def test_limit(splits):
    data = load_dataset("digits", "val", limit=25)
    assert len(data) == 25
    assert torch.equal(data.images, splits["val"].images[:25])
    assert torch.equal(data.labels, splits["val"].labels[:25])


def test_image_size_resizes_and_drops_discrete_levels(splits):
    data = load_dataset("digits", "train", image_size=16)
    assert data.images.shape == (1000, 1, 16, 16) and data.images.dtype == torch.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert data.levels is None  # interpolated values are no longer k/16
    # Resizing keeps the picture: average brightness barely moves.
    assert torch.allclose(data.images.mean((1, 2, 3)), splits["train"].images.mean((1, 2, 3)), atol=0.02)
    same = load_dataset("digits", "train", image_size=8)
    assert same.levels == 17 and torch.equal(same.images, splits["train"].images)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(UserError) as err:
        load_dataset("mnits", "train")
    message = str(err.value)
    assert "unknown dataset 'mnits'" in message
    for name in ("digits", "mnist", "fashion-mnist", "cifar10", "folder:PATH", "npz:PATH"):
        assert name in message


def test_unknown_split_lists_the_choices():
    with pytest.raises(UserError, match="unknown split 'validation'; choose one of train, val, test"):
        load_dataset("digits", "validation")


def test_every_builtin_dataset_is_listed():
    info = {d.name: d for d in available_datasets()}
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "folder", "npz"} <= set(info)
    assert info["digits"].offline and not info["mnist"].offline and not info["cifar10"].offline
