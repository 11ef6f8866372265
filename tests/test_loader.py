"""Training on a split larger than the memory budget: streamed from the memory-mapped uint8
cache through a DataLoader (train/loader.py), bit-identical to training in memory, resumable
exactly, and with memory bounded by a batch rather than the split."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402,F401  (the tiny-ae family)
from conftest import quick_overrides  # noqa: E402
from genimg.data.mapped import MappedImages  # noqa: E402
from genimg.data.registry import load_split  # noqa: E402
from genimg.train import (  # noqa: E402
    apply_overrides,
    default_config,
    loader,  # noqa: E402
    resume_config,
    train,
)


def write_folder(folder: Path, n: int, size: int, channels: int = 1, classes: int = 2) -> Path:
    rng = np.random.default_rng(0)
    shape = (size, size) if channels == 1 else (size, size, channels)
    for i in range(n):
        (folder / f"c{i % classes}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"c{i % classes}" / f"{i}.png")
    return folder


@pytest.fixture
def streams(monkeypatch):
    """Counts the batches that went through the DataLoader path."""
    count = [0]
    real = loader._stream

    def counted(*args, **kwargs):
        for batch in real(*args, **kwargs):
            count[0] += 1
            yield batch

    monkeypatch.setattr(loader, "_stream", counted)
    return count


def test_streamed_training_is_bit_identical_to_in_memory_and_resumes_exactly(tmp_path, streams):
    folder = write_folder(tmp_path / "digits", 150, 8)

    def config(name, epochs, **extra):
        overrides = quick_overrides(tmp_path, name, epochs=epochs, dataset=f"folder:{folder}", **extra)
        overrides += ["hidden=16", "iw_samples=1", "batch_size=32", "patience=null", "likelihood_k=4"]
        return apply_overrides(default_config("vae", f"folder:{folder}"), overrides)

    memory = train(config("memory", 4), quiet=True).run
    assert streams[0] == 0  # 150 small images: in memory, index slices, as ever
    disk = train(config("disk", 4, max_memory_gb=1e-6, loader_workers=1), quiet=True).run
    assert streams[0] > 4 * 120 // 32  # every split streamed, through a worker process
    half = train(config("half", 2, max_memory_gb=1e-6, loader_workers=0), quiet=True).run
    train(resume_config(half.path, ["epochs=4"]), resume=half.path, quiet=True)

    reference = load_file(str(memory.checkpoint("last") / "model.safetensors"))
    for run in (disk, half):
        weights = load_file(str(run.checkpoint("last") / "model.safetensors"))
        assert all(torch.equal(weights[k], reference[k]) for k in reference), run.path.name
        drop = {"time_s", "cpu_s"}
        assert [{k: v for k, v in r.items() if k not in drop} for r in run.metrics()] == [
            {k: v for k, v in r.items() if k not in drop} for r in memory.metrics()
        ]
        for key in ("likelihood", "test"):  # the final scores, read from disk too
            assert run.summary()[key] == memory.summary()[key], key


def _reset_peak_memory() -> bool:
    """Reset this process's peak resident memory (VmHWM) to its current size (Linux's
    /proc/self/clear_refs); False where that cannot be done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _memory(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def _peak_growth(run) -> int | None:
    """How far this process's resident memory rose above its size before ``run()``, at its peak."""
    before = _memory("VmRSS")
    if not _reset_peak_memory():
        run()
        return None
    run()
    return _memory("VmHWM") - before


def test_a_folder_larger_than_the_budget_never_becomes_float32(tmp_path, monkeypatch):
    # 2,400 RGB images of 64x64: 118 MB as float32 (94 MB of it the training split), 29 MB as
    # uint8. The budget imposed is 10 MB, so every split (val and test: 12 MB each) is streamed.
    folder = write_folder(tmp_path / "faces", 2400, 64, channels=3, classes=1)
    overrides = quick_overrides(tmp_path, "disk", epochs=1, dataset=f"folder:{folder}")
    overrides += ["max_memory_gb=0.01", "loader_workers=0", "batch_size=100", "hidden=8"]
    config = apply_overrides(default_config("tiny-ae"), overrides)
    all_float32, train_float32 = 2400 * 3 * 64 * 64 * 4, 1920 * 3 * 64 * 64 * 4
    assert load_split(config.data, "train", max_bytes=10**7).mapped  # decoded into the cache here

    # In memory first (the split fits 1 GB): it also pays for what the first run in a process loads.
    in_memory = _peak_growth(lambda: train(apply_overrides(config, ["max_memory_gb=1", "run_name=memory"]), quiet=True))

    rows_read = []
    real_uint8 = MappedImages.uint8

    def spy(self, index):
        rows = real_uint8(self, index)
        rows_read.append(len(rows))
        return rows

    def never(self):
        raise AssertionError("a split over the budget was read into memory whole")

    monkeypatch.setattr(MappedImages, "uint8", spy)
    monkeypatch.setattr(MappedImages, "materialize", never)
    streamed = _peak_growth(lambda: train(config, quiet=True))
    assert sum(rows_read) >= 2400 and max(rows_read) <= 100  # every image read, a batch at a time
    if streamed is not None:
        print(
            f"\npeak memory growth: streamed {streamed / 1e6:.1f} MB, in memory {in_memory / 1e6:.1f} MB "
            f"(the splits as float32: {all_float32 / 1e6:.1f} MB, the training split {train_float32 / 1e6:.1f} MB)"
        )
        # Streamed: the pages of the 29 MB uint8 file it maps, and a few batches.
        assert streamed < train_float32 / 2 and in_memory > all_float32
