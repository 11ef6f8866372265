"""Device choice and the CUDA / MPS code paths, exercised on a CPU with the device stubbed:
which device ``auto`` picks, what is set for CUDA, how batches travel, where float64 lives on
MPS, and which GPU each of a sweep's workers takes. (No GPU or Mac runs these for real.)"""

import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from genimg.config.run_config import DataConfig
from genimg.data.dataset import ImageDataset
from genimg.data.mapped import MappedImages
from genimg.errors import UserError
from genimg.experiments.sweep import runner as sweep_runner
from genimg.experiments.sweep.task import Task, TaskResult
from genimg.models.diffusion.schedules import NoiseSchedule
from genimg.models.precision import as_float64, float64_device, resolve_precision
from genimg.train import device as device_module
from genimg.train import loader
from genimg.train.device import auto_device, device_kind, pinned_copies, prepare_device, select_device
from genimg.train.distributed import DistInfo
from genimg.train.trainer import EpochSums


@pytest.fixture
def machine(monkeypatch):
    """Say which accelerators this machine has."""

    def have(cuda=False, mps=False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(device_module, "mps_available", lambda: mps)

    return have


def test_auto_picks_cuda_then_mps_then_cpu(machine):
    machine(cuda=True, mps=True)
    assert auto_device() == "cuda" and device_kind("auto") == "cuda"
    assert select_device("auto", DistInfo(rank=1, world_size=2, local_rank=1)) == torch.device("cuda:1")
    machine(mps=True)
    assert auto_device() == "mps" and device_kind("auto") == "cpu"  # torchrun's backend: gloo
    assert select_device("auto", DistInfo()) == torch.device("mps")
    machine()
    assert select_device("auto", DistInfo()) == torch.device("cpu")


def test_device_refusals(machine):
    machine()
    for name, message in [("mps", "no usable MPS"), ("cuda:0", "no CUDA device"), ("tpu", "auto, cpu, mps")]:
        with pytest.raises(UserError, match=message):
            select_device(name, DistInfo())
    machine(mps=True)
    with pytest.raises(UserError, match="torchrun"):
        select_device("mps", DistInfo(rank=0, world_size=2))


def test_cudnn_benchmark_and_current_gpu_only_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    current = []
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    prepare_device(torch.device("cpu"))
    prepare_device(torch.device("mps"))
    assert torch.backends.cudnn.benchmark is False and not current  # the CPU path, and its exact resume, untouched
    prepare_device(torch.device("cuda:2"))
    assert torch.backends.cudnn.benchmark is True and current == [torch.device("cuda:2")]


def test_pinned_non_blocking_copies_only_to_cuda(tmp_path, monkeypatch):
    assert pinned_copies(torch.device("cuda:1"))
    assert not pinned_copies(torch.device("cpu")) and not pinned_copies(torch.device("mps"))
    # The DataLoader path with CUDA stubbed: what it asks of the DataLoader and of each copy.
    pixels = torch.randint(0, 256, (10, 1, 3, 3), dtype=torch.uint8)
    path = tmp_path / "rows.u8"
    path.write_bytes(pixels.numpy().tobytes())
    data = ImageDataset("t", "train", MappedImages(str(path), 0, (10, 1, 3, 3)), torch.arange(10), 10)
    asked, copies = {}, []

    class Loader(torch.utils.data.DataLoader):
        def __init__(self, *args, **kwargs):
            asked.update(kwargs)
            super().__init__(*args, **{**kwargs, "pin_memory": False})  # no CUDA here to pin for

    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        copies.append(kwargs.get("non_blocking"))
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(loader, "DataLoader", Loader)
    monkeypatch.setattr(loader, "pinned_copies", lambda device: True)
    monkeypatch.setattr(torch.Tensor, "to", to)
    batches = list(loader.evaluation_batches(data, 4, DistInfo(), torch.device("cpu"), workers=0))
    monkeypatch.setattr(torch.Tensor, "to", real_to)
    assert asked["pin_memory"] is True and asked["batch_size"] is None
    assert isinstance(asked["generator"], torch.Generator)  # not the global RNG the models draw noise from
    assert copies == [True] * 6  # images and labels of 3 batches
    assert torch.equal(torch.cat([b[0] for b in batches]), pixels.float() / 255)


def test_memory_budget_on_cuda_also_fits_the_gpu(monkeypatch):
    gpu = types.SimpleNamespace(total_memory=8 * 10**9)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: gpu)
    monkeypatch.setattr(loader, "memory_budget_bytes", lambda gb: 10**12 if gb is None else int(gb * 10**9))
    assert loader.memory_budget(DataConfig(), torch.device("cuda:0")) == 2 * 10**9
    assert loader.memory_budget(DataConfig(), torch.device("cpu")) == 10**12
    assert loader.memory_budget(DataConfig(max_memory_gb=20.0), torch.device("cuda:0")) == 20 * 10**9  # as asked


def test_no_float64_on_mps():
    mps = torch.device("mps")  # a device name, never used: nothing is created on it here
    assert float64_device(mps) == torch.device("cpu")
    assert float64_device("cuda:1") == torch.device("cuda:1") and float64_device("cpu") == torch.device("cpu")
    assert as_float64(torch.ones(2)).dtype == torch.float64
    assert EpochSums(mps).dtype == torch.float32 and EpochSums(torch.device("cpu")).dtype == torch.float64
    assert resolve_precision("auto", mps, 28) == "fp32"


def test_diffusion_schedule_goes_to_mps_in_float32():
    schedule = NoiseSchedule("cosine", 20)
    exact = {name: buffer.clone() for name, buffer in schedule.named_buffers()}
    seen = []

    def move_to_mps(tensor):  # what .to("mps") does to each tensor, with MPS stubbed
        if tensor.numel() == 0:
            return types.SimpleNamespace(device=torch.device("mps"))  # the probe: where tensors go
        seen.append(tensor.dtype)
        return tensor

    schedule._apply(move_to_mps)
    assert seen == [torch.float32] * 4  # never a float64 tensor handed to MPS
    assert all(torch.equal(buffer, exact[name].float()) for name, buffer in schedule.named_buffers())
    schedule.to("cpu")  # elsewhere again: float64, exactly
    assert all(b.dtype == torch.float64 and torch.equal(b, exact[n]) for n, b in schedule.named_buffers())


def test_sweep_workers_take_one_gpu_each_round_robin(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert sweep_runner.worker_devices(4, {"auto"}) == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert sweep_runner.worker_devices(2, {"cuda", "auto"}) == ["cuda:0", "cuda:1"]
    assert sweep_runner.worker_devices(1, {"auto"}) is None  # one worker: auto already means cuda:0
    assert sweep_runner.worker_devices(3, {"cpu"}) is None  # CPU runs split the cores instead
    assert sweep_runner.worker_devices(3, {"cuda:1"}) is None  # the user's own choice stands
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert sweep_runner.worker_devices(2, {"auto"}) is None

    # Three workers on three GPUs, seven runs of uneven length: each run's config names the
    # device of the slot it runs in, and no two runs at once share one.
    lock, busy, trained = threading.Lock(), set(), []

    def run_task(task):
        device = task.config["train"]["device"]
        with lock:
            assert device not in busy, f"{device} double-booked"
            busy.add(device)
            trained.append((task.name, device))
        time.sleep(0.01 * (1 + int(task.name[-1]) % 3))
        with lock:
            busy.discard(device)
        return TaskResult(task.name, trained=True)

    monkeypatch.setattr(sweep_runner, "run_task", run_task)
    monkeypatch.setattr(sweep_runner, "_pool", lambda parallel, threads: ThreadPoolExecutor(parallel))
    tasks = [Task(f"run{i}", f"/runs/{i}", {"train": {"device": "auto"}}, False, None, 1) for i in range(7)]
    results = sweep_runner.execute(tasks, 3, 1, devices=["cuda:0", "cuda:1", "cuda:2"])
    assert [r.name for r in results] == [t.name for t in tasks] and all(r.trained for r in results)
    assert dict(trained)["run0"] == "cuda:0" and dict(trained)["run1"] == "cuda:1" and dict(trained)["run2"] == "cuda:2"
    assert {device for _, device in trained} == {"cuda:0", "cuda:1", "cuda:2"}
    assert all(t.config["train"]["device"] == "auto" for t in tasks)  # the plan itself is left as it was
