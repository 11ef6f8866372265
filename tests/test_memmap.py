"""The memory-mapped uint8 cache and the split views over it (data/memmap.py, data/mapped.py):
what they read is what the in-memory path holds, to the bit."""

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.data import load_dataset
from genimg.data.files import load_folder
from genimg.data.mapped import MappedImages
from genimg.data.memmap import array_writer, open_checked_array
from genimg.data.memory import PARALLEL_RUNS_ENV, memory_budget_bytes, physical_memory_bytes
from genimg.io import read_checked, write_checked

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (40, 3, 5, 4), dtype=np.uint8)


def written(path, array=PIXELS):
    with array_writer(path, array.shape) as out:
        out[:] = array
    return open_checked_array(path)


def test_array_file_round_trips_memory_mapped_and_reads_as_a_checked_file(tmp_path):
    mapped = written(tmp_path / "a.npy")
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    assert np.array_equal(mapped, PIXELS)
    # The layout io.write_checked gives an .npy payload: read_checked reads it, and the reverse.
    assert np.array_equal(np.load(io.BytesIO(read_checked(tmp_path / "a.npy"))), PIXELS)
    buffer = io.BytesIO()
    np.save(buffer, PIXELS)
    write_checked(tmp_path / "old.npy", buffer.getvalue())
    assert np.array_equal(open_checked_array(tmp_path / "old.npy"), PIXELS)


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend", "magic"])
def test_a_damaged_array_file_is_not_trusted(tmp_path, damage):
    path = tmp_path / "a.npy"
    written(path)
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[-7] ^= 1
    elif damage == "truncate":
        raw = raw[:-10]
    elif damage == "extend":
        raw += b"\0"
    else:
        raw[0] ^= 1
    path.write_bytes(bytes(raw))
    assert open_checked_array(path) is None
    assert open_checked_array(tmp_path / "missing.npy") is None


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with array_writer(tmp_path / "a.npy", PIXELS.shape) as out:
            out[0] = 1
            raise RuntimeError("decoding failed")
    assert list(tmp_path.iterdir()) == []


def test_mapped_images_read_what_the_tensor_holds(tmp_path):
    images = MappedImages.of(written(tmp_path / "a.npy"))
    reference = torch.from_numpy(PIXELS).float().div_(255.0)
    assert images.shape == reference.shape and len(images) == 40 and images.dim() == 4
    index = torch.tensor([7, 3, 3, 39, 0])
    assert torch.equal(images[index], reference[index])
    assert torch.equal(images[2:9], reference[2:9]) and torch.equal(images[5], reference[5])
    assert torch.equal(images[np.int64(-1)], reference[-1]) and torch.equal(images[torch.tensor(3)], reference[3])
    assert torch.equal(images.materialize(), reference)
    keep = torch.arange(40) % 3 == 0
    assert torch.equal(images.subset(keep).subset(slice(1, 5))[:], reference[keep][1:5])
    assert torch.equal(images.binarized(0.5)[index], (reference[index] > 0.5).float())
    last = images.in_channels_last()[index]
    assert last.is_contiguous(memory_format=torch.channels_last) and torch.equal(last, reference[index])
    assert torch.equal(images.convert(images.uint8(index)), reference[index])
    again = pickle.loads(pickle.dumps(images.subset(index)))  # a DataLoader worker's copy: mapped again
    assert again._array is None and torch.equal(again[:], reference[index])
    assert len(pickle.dumps(images)) < PIXELS.nbytes  # the pages never travel


def write_folder(folder, n=30, size=6):
    for i in range(n):
        (folder / f"c{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(RNG.integers(0, 256, (size, size), dtype=np.uint8)).save(folder / f"c{i % 3}" / f"{i}.png")
    return folder


def test_a_folder_split_left_on_disk_reads_as_the_one_in_memory(tmp_path):
    folder = write_folder(tmp_path / "pics")
    name = f"folder:{folder}"
    for options in ({}, {"classes": [0, 2], "limit": 5}, {"binarize": 0.5}):
        for split in ("train", "test"):
            memory = load_dataset(name, split, **options)
            disk = load_dataset(name, split, max_bytes=1, **options)
            assert not memory.mapped and disk.mapped and disk.float32_bytes == memory.images.numel() * 4
            assert torch.equal(disk.images[:], memory.images) and torch.equal(disk.labels, memory.labels)
            assert disk.levels == memory.levels and disk.extra == memory.extra
    assert not load_dataset(name, "train", max_bytes=10**9).mapped  # it fits: in memory as ever
    assert load_folder("train", path=str(folder), mapped=True).mapped


def test_memory_budget(monkeypatch):
    assert memory_budget_bytes(0.5) == 500_000_000
    total = physical_memory_bytes()
    assert total and total > 2**26
    monkeypatch.setenv(PARALLEL_RUNS_ENV, "4")  # four parallel runs of a sweep share it
    assert memory_budget_bytes(None) == int(total * 0.25) // 4
