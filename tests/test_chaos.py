"""Chaos: `genimg train` (VAE, DCGAN, diffusion) and `genimg sweep --parallel 2` killed with SIGKILL
at seeded random moments (inside a checkpoint write, between a checkpoint's two renames, half-way
through a metrics line, during an evaluation, during the final scoring, at a random step or
wall-clock moment), resumed until done, end bit-identical to an uninterrupted run: weights, EMA,
optimiser state, and metrics.jsonl line for line (wall and CPU times aside). Ctrl-C stops a run
at a clean point, marked interrupted, with one line saying how to resume.

Each kill is made by the process itself at a hook (a worker program patches one function) or by
this test after a random delay, so the moments are drawn from a seed yet land where they must.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from conftest import quick_overrides  # noqa: E402
from genimg.experiments.sweep import Sweep  # noqa: E402
from genimg.runs.directory import RunDir  # noqa: E402
from genimg.train import apply_overrides, default_config, train  # noqa: E402

SEED = 17
TIMING = ("time_s", "cpu_s", "train_time_s", "train_cpu_s", "status_time")

# The program each launch runs: genimg's CLI, with at most one kill (or Ctrl-C) planted at a hook.
WORKER = r"""
import json, os, signal, sys
plan = json.loads(sys.argv[1])
what, n, sig = plan.get("hook") or (None, 0, "KILL")
calls = [0]

def hit():
    calls[0] += 1
    if calls[0] == n or (sig == "INT2" and calls[0] == n + 1):
        os.kill(os.getpid(), signal.SIGINT if sig.startswith("INT") else signal.SIGKILL)

if what == "step":  # after the n-th optimiser update
    from genimg.models import stepper
    real_step = stepper.Stepper.step
    def step(self, name, loss):
        real_step(self, name, loss)
        hit()
    stepper.Stepper.step = step
elif what == "checkpoint":  # inside the n-th checkpoint write, after its first file
    from genimg.runs import checkpoint
    real_write = checkpoint.write_bytes
    def write(path, data):
        real_write(path, data)
        hit()
    checkpoint.write_bytes = write
elif what == "swap":  # between the two renames that swap a checkpoint into place
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(".old"):
            hit()
    os.replace = replace
elif what == "metrics":  # half-way through writing the n-th line of metrics.jsonl
    from genimg.train import trainer
    from genimg.io import dumps
    real_append = trainer.append_jsonl
    def append(path, record):
        if calls[0] + 1 == n:
            with open(path, "a") as f:
                f.write(dumps(record)[:40])
        real_append(path, record) if calls[0] + 1 != n else None
        hit()
    trainer.append_jsonl = append
elif what == "evaluation":  # between the val and the test loss of an evaluation
    from genimg.train import trainer
    real_loss = trainer.evaluate_loss
    def evaluate(*args, **kwargs):
        out = real_loss(*args, **kwargs)
        hit()
        return out
    trainer.evaluate_loss = evaluate
elif what == "finish":  # during the final scoring, after samples.png
    from genimg.train import finish
    real_final = finish.evaluate_loss
    def final(*args, **kwargs):
        hit()
        return real_final(*args, **kwargs)
    finish.evaluate_loss = final
from genimg.cli import main
sys.exit(main(plan["argv"]))
"""

FAMILIES = {  # tiny configs, checkpointed every epoch; every file of a run is written in each
    "vae": ["hidden=32", "iw_samples=1", "ema_decay=0.9", "batch_size=200", "sample_every=2"],
    "dcgan": ["g_features=8", "d_features=8", "latent_dim=8", "ema_decay=0.9", "select_by=last", "fid_every=0"]
    + ["data.limit=96", "batch_size=32", "eval_every=2", "sample_every=3"],
    "diffusion": ["channels=8", "attention=false", "norm_groups=4", "timesteps=50", "warmup_steps=5"]
    + ["ema_decay=0.9", "select_by=val_loss", "fid_every=0", "sample_every=0", "likelihood_at_end=false"]
    + ["data.limit=96", "batch_size=32"],
}
COMMON = ["checkpoint_every_s=0", "threads=1", "patience=null"]
FOURTH = {"vae": "metrics", "dcgan": "finish", "diffusion": "step"}


def launch(argv, hook=None, tmp=None, wait=True):
    plan = json.dumps({"argv": [str(a) for a in argv], "hook": hook})
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, plan],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,
    )
    if not wait:
        return process
    out, err = process.communicate(timeout=240)
    return process.returncode, err


def overrides(tmp, name, family, epochs):
    return quick_overrides(tmp, name, epochs=epochs) + FAMILIES[family] + COMMON


def assert_identical(a: Path, b: Path):
    """Two run directories hold the same training: weights, EMA, optimiser state, metrics, summary."""
    for which in ("last", "best"):
        for weights in ("model.safetensors", "ema.safetensors"):
            x, y = a / "checkpoints" / which / weights, b / "checkpoints" / which / weights
            assert x.exists() == y.exists(), (which, weights)
            if x.exists():
                wx, wy = load_file(str(x)), load_file(str(y))
                assert wx.keys() == wy.keys() and all(torch.equal(wx[k], wy[k]) for k in wx), (which, weights)
    sx, sy = (torch.load(p / "checkpoints" / "last" / "state.pt", weights_only=True) for p in (a, b))
    assert sx["optimizers"].keys() == sy["optimizers"].keys()
    for name in sx["optimizers"]:
        ox, oy = sx["optimizers"][name]["state"], sy["optimizers"][name]["state"]
        assert ox.keys() == oy.keys()
        for k in ox:
            assert all(torch.equal(torch.as_tensor(ox[k][f]), torch.as_tensor(oy[k][f])) for f in ox[k]), name

    def without_timing(record):
        return {k: v for k, v in record.items() if k not in TIMING}

    ra, rb = RunDir(a), RunDir(b)
    assert [without_timing(r) for r in ra.metrics()] == [without_timing(r) for r in rb.metrics()]
    assert len(ra.metrics_file.read_text().splitlines()) == len(ra.metrics())  # no torn or duplicated line
    assert without_timing(ra.summary()) == without_timing(rb.summary())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_killed_at_random_moments_and_resumed_it_ends_bit_identical(tmp_path, family):
    rng = random.Random(f"{SEED}-{family}")
    epochs = 4
    reference = train(apply_overrides(default_config(family), overrides(tmp_path, "ref", family, epochs)), quiet=True)
    run = tmp_path / "chaos"
    fresh = ["train", family, *overrides(tmp_path, "chaos", family, epochs)]
    # Always a kill inside a checkpoint write, one between its renames, one during an evaluation and
    # one at a random wall-clock moment; a fifth of another kind for each family, so that the three
    # cover every kind. In a seeded order, except that the wall-clock kill (which may land anywhere,
    # the last epochs included) and then the final scoring come after the others.
    kinds = ["checkpoint", "swap", "evaluation", "timer", FOURTH[family]]
    rng.shuffle(kinds)
    kinds.sort(key=lambda kind: {"timer": 1, "finish": 2}.get(kind, 0))
    kills = []
    for kind in kinds:
        argv = ["train", "--resume", run] if (run / "config.yaml").exists() else fresh
        if kind == "timer":
            code = _kill_when_under_way(launch(argv, wait=False), run, rng.uniform(0, 0.5))
        else:
            # The n-th time the hook is reached in this launch; a swap and the final scoring come
            # once near the end, so the first of those.
            n = 1 if kind in ("swap", "finish") else rng.randint(1, 2)
            code, err = launch(argv, (kind, n, "KILL"))
            assert code in (-signal.SIGKILL, 0), err
        kills.append((kind, code == -signal.SIGKILL))
    code, err = launch(["train", "--resume", run] if (run / "config.yaml").exists() else fresh)
    assert code == 0, err
    print(f"chaos {family}: {sum(k for _, k in kills)} kills {kills}, then resumed to the end: bit-identical")
    assert all(killed for kind, killed in kills if kind != "timer")  # the clock may lose to a fast run
    assert RunDir(run).status() == "finished"
    assert_identical(run, reference.run.path)


def _kill_when_under_way(process, run: Path, delay: float) -> int:
    """SIGKILL ``process`` ``delay`` seconds after it holds the run's lock (its data and model are
    loaded: it is training or scoring); its return code."""
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if f"pid {process.pid} " in (run / ".lock").read_text():
                break
        except OSError:
            pass
        time.sleep(0.02)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    return process.returncode


def test_ctrl_c_stops_at_a_clean_point_and_says_how_to_resume(tmp_path):
    reference = train(apply_overrides(default_config("vae"), overrides(tmp_path, "ref", "vae", 4)), quiet=True)
    run = tmp_path / "int"
    argv = ["train", "vae", *overrides(tmp_path, "int", "vae", 4)]
    code, err = launch(argv, ("step", 8, "INT"))  # Ctrl-C in the 2nd epoch (5 steps an epoch)
    lines = err.strip().splitlines()
    assert code == 130, err
    assert lines[-1] == (
        f"genimg: interrupted; stopped at step 8 (epoch 2); {run}/checkpoints/last holds epoch 1; "
        f"continue with `genimg train --resume {run}`"
    )
    assert "SIGINT received; stopping after the current step" in lines[0]
    summary = RunDir(run).summary()
    assert summary["status"] == "interrupted" and summary["checkpoint_epoch"] == 1
    # Ctrl-C during an evaluation: the epoch is finished and checkpointed first.
    code, err = launch(["train", "--resume", run], ("evaluation", 1, "INT"))
    assert code == 130 and "stopped at step 10 (epoch 3)" in err and "holds epoch 2" in err, err
    # Twice: at once.
    code, err = launch(["train", "--resume", run], ("step", 2, "INT2"))
    assert code == 130 and RunDir(run).status() == "interrupted", err
    code, err = launch(["train", "--resume", run])
    assert code == 0, err
    assert_identical(run, reference.run.path)


def _session_processes(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the sweep's workers in /proc")
def test_a_parallel_sweep_killed_at_random_moments_ends_bit_identical(tmp_path):
    rng = random.Random(f"{SEED}-sweep")
    sweep_dir = tmp_path / "sweep"
    base = ["epochs=4", *FAMILIES["vae"], *COMMON, "likelihood_k=5", "sample_every=0"]
    argv = ["sweep", "vae", "hidden=16,24,32", "--parallel", "2", "--no-eval", "--no-report", "--out", sweep_dir]
    argv += [item for value in base for item in ("--set", value)]
    resume = ["sweep", "--resume", sweep_dir, "--parallel", "2", "--no-report"]
    kills = 0
    for attempt in range(3):
        process = launch(argv if attempt == 0 else resume, wait=False)
        deadline = time.monotonic() + 120
        while not list(sweep_dir.glob("*/metrics.jsonl")) and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 1.0))
        if attempt == 1:  # a worker killed, as by the OOM killer: the sweep reports it and stops
            workers = [p for p in _session_processes(process.pid) if p != process.pid]
            if workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
            process.communicate(timeout=240)
        else:  # the sweep itself killed: its workers must die with it, leaving no orphan training
            process.send_signal(signal.SIGKILL)
            process.wait()
            deadline = time.monotonic() + 15
            while _session_processes(process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _session_processes(process.pid), "orphaned sweep workers"
        kills += 1
    code, err = launch(resume)
    assert code == 0, err
    sweep = Sweep.load(sweep_dir)
    assert len(sweep.variants) == 3
    for variant in sweep.variants:
        config = apply_overrides(sweep.variant_config(variant), {"train.out": str(tmp_path / "ref")})
        reference = train(config, quiet=True)
        assert_identical(sweep.run_dir(variant), reference.run.path)
    print(f"chaos sweep: {kills} kills (2 of the sweep, 1 of a worker), 3 variants bit-identical")
