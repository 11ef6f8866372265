"""torchrun with two CPU processes (gloo) against a single process on the same global batches."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402,F401
from conftest import quick_overrides  # noqa: E402
from genimg.runs.directory import RunDir
from genimg.train import apply_overrides, default_config, train  # noqa: E402

WORKER = Path(__file__).parent / "ddp_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(family: str, out: Path, overrides: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(WORKER),
        family,
        str(out),
        *overrides,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_two_ranks_match_one_process_on_the_same_global_batch(tmp_path):
    overrides = quick_overrides(tmp_path, "ddp", epochs=2, batch_size=100, eval_every=1)
    torchrun("tiny-ae", tmp_path, overrides)
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"{k} differs across ranks"

    single = train(
        apply_overrides(default_config("tiny-ae"), quick_overrides(tmp_path, "single", epochs=2, batch_size=100)),
        quiet=True,
    )
    for k, v in single.model.state_dict().items():
        assert torch.allclose(v, r0[k], atol=1e-5), f"{k}: DDP and single-process weights differ"
    ddp_losses = [
        r["train"]["loss"]
        for r in (tmp_path / "ddp").joinpath("metrics.jsonl").read_text() and RunDir(tmp_path / "ddp").metrics()
    ]
    single_losses = [r["train"]["loss"] for r in single.run.metrics()]
    assert ddp_losses == pytest.approx(single_losses, rel=1e-5)


@pytest.mark.slow
def test_vae_parameters_stay_identical_across_ranks(tmp_path):
    torchrun(
        "vae",
        tmp_path,
        quick_overrides(tmp_path, "ddp-vae", epochs=2, hidden=32, iw_samples=1, batch_size=100)
        + ["likelihood_at_end=false"],
    )
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
