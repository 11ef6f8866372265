import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

from genimg.data import load_dataset
from genimg.data.spec import DataSpec

torch.set_num_threads(1)  # small models on a shared 2-core machine: one thread is fastest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own genimg cache, except the shared classifier cache below."""
    if "GENIMG_CACHE" not in os.environ:
        monkeypatch.setenv("GENIMG_CACHE", str(tmp_path_factory.getbasetemp() / "genimg-cache"))
    yield


def quick_overrides(tmp_path, name="run", epochs=3, **extra):
    """Overrides for a tiny, fast, quiet training run inside tmp_path."""
    items = {"epochs": epochs, "out": str(tmp_path), "run_name": name, "progress": False, "likelihood_k": 20, **extra}
    return [f"{k}={v}" for k, v in items.items()]


@pytest.fixture(scope="session")
def test_split():
    """The digits test split (447 images)."""
    return load_dataset("digits", "test")


@pytest.fixture(scope="session")
def spec(test_split):
    return DataSpec.of(test_split)
