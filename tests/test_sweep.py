"""Sweeps: planning (one-at-a-time vs grid), validation before training, resume, threads, evaluation."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from genimg.cli import build_parser
from genimg.errors import UserError
from genimg.experiments.sweep import (
    Sweep,
    define_sweep,
    parse_parameters,
    resume_sweep,
    run_sweep,
    split_values,
    threads_per_worker,
)
from genimg.experiments.sweep import evaluation as sweep_evaluation
from genimg.experiments.sweep.runner import plan_tasks
from genimg.io import write_json
from genimg.runs.directory import RunDir

THREE_BY_THREE = {"latent_dim": [2, 16, 32], "beta": [0.5, 1, 4], "hidden": [128, 256, 512]}
TINY = ["epochs=2", "likelihood_k=20", "hidden=32", "sample_every=1", "threads=1", "batch_size=200"]


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser("sweep").parse_args(argv)


@pytest.fixture
def no_evaluation(monkeypatch):
    """Record evaluator calls instead of scoring (the evaluator has its own tests)."""
    calls = []

    def fake_evaluate(run_dir, settings, quiet=True):
        calls.append((Path(run_dir).name, dict(settings)))
        write_json(RunDir(Path(run_dir)).eval_dir / "metrics.json", {"settings": settings})
        return {}

    monkeypatch.setattr(sweep_evaluation, "evaluate_variant", fake_evaluate)
    monkeypatch.setattr(sweep_evaluation, "prepare_evaluation", lambda sweep, log=print: None)
    return calls


# ---------------------------------------------------------------------------- planning


def test_one_at_a_time_shares_the_base_run_and_grid_is_factorial(tmp_path):
    one = define_sweep("vae", THREE_BY_THREE, out=tmp_path / "one")
    grid = define_sweep("vae", THREE_BY_THREE, mode="grid", out=tmp_path / "grid")
    assert len(one.variants) == 7
    assert len(grid.variants) == 27
    # The defaults (latent_dim 16, beta 1.0, hidden 256) are listed, so they make the base run.
    assert one.base_values() == {"latent_dim": 16, "beta": 1.0, "hidden": 256}
    names = [v.name for v in one.variants]
    assert names == ["base", "latent_dim=2", "latent_dim=32", "beta=0.5", "beta=4.0", "hidden=128", "hidden=512"]
    assert all(sum(v.values[k] != one.base_values()[k] for k in THREE_BY_THREE) <= 1 for v in one.variants)
    combos = {tuple(v.values[k] for k in THREE_BY_THREE) for v in grid.variants}
    assert len(combos) == 27 and len({v.name for v in grid.variants}) == 27
    assert nothing_written(tmp_path)


def test_base_value_is_the_first_listed_when_the_default_is_not_listed(tmp_path):
    s = define_sweep("vae", {"latent_dim": [2, 8, 32], "beta": [0.5, 1]}, out=tmp_path / "s")
    assert s.base_values() == {"latent_dim": 2, "beta": 1.0}  # 16 is not listed; beta's default 1.0 is
    assert [v.name for v in s.variants] == ["base", "latent_dim=8", "latent_dim=32", "beta=0.5"]
    assert s.variants[0].values == {"latent_dim": 2, "beta": 1.0}
    # A --set value that is listed becomes the base value.
    s = define_sweep("vae", {"latent_dim": [2, 8, 32]}, base=["latent_dim=32"], out=tmp_path / "s")
    assert s.base_values() == {"latent_dim": 32}


def test_seeds_repeat_every_variant(tmp_path):
    s = define_sweep("vae", THREE_BY_THREE, seeds=3, base=["seed=5"], out=tmp_path / "s")
    assert len(s.variants) == 21
    assert s.seeds == [5, 6, 7]
    groups = s.groups()
    assert len(groups) == 7 and all([v.seed for v in vs] == [5, 6, 7] for vs in groups.values())
    assert s.variants[0].name == "base-seed5"
    config = s.variant_config(s.variants[1])
    assert config.train.seed == 6 and config.train.run_name == "base-seed6"


def test_a_swept_seed_is_the_runs_seed():
    s = define_sweep("vae", {"seed": [0, 1, 2], "beta": [1, 2]})
    assert [(v.name, v.seed, s.variant_config(v).train.seed) for v in s.variants] == [
        ("base", 0, 0),
        ("seed=1", 1, 1),
        ("seed=2", 2, 2),
        ("beta=2.0", 0, 0),
    ]
    with pytest.raises(UserError, match="--seeds together"):
        define_sweep("vae", {"seed": [0, 1]}, seeds=2)


def test_values_are_parsed_and_coerced_like_config_overrides():
    params = parse_parameters(["lr=1e-3,3e-4", "latent_dim=2,8", "hidden=[64,32],[128]"])
    assert params["latent_dim"] == [2, 8]
    assert split_values("[0.5,0.9],[0.5,0.999]") == ["[0.5,0.9]", "[0.5,0.999]"]
    s = define_sweep("vae", {"beta": [1, 4]})  # ints for a float field compare with the default 1.0
    assert s.parameters["beta"] == [1.0, 4.0] and len(s.variants) == 2
    with pytest.raises(UserError, match="more than once"):
        define_sweep("vae", {"beta": [1, 1.0]})
    with pytest.raises(UserError, match="given twice"):
        parse_parameters(["beta=1,2", "beta=3,4"])


def test_a_single_value_is_a_base_override(tmp_path):
    s = define_sweep("vae", {"latent_dim": [2, 16], "epochs": [7]}, out=tmp_path / "s")
    assert list(s.parameters) == ["latent_dim"] and s.base["epochs"] == 7
    assert all(s.variant_config(v).train.epochs == 7 for v in s.variants)


def test_a_sweep_is_defined_without_torch_and_a_worker_sets_up_before_torch_loads():
    """The report reads sweeps through the definition, and a spawned worker loads its setup
    (which fixes the thread count) before torch: neither may import torch."""
    code = (
        "import sys\n"
        "import genimg.experiments.sweep.worker_setup\n"
        "from genimg.experiments.sweep import define_sweep, parse_parameters\n"
        "define_sweep('vae', parse_parameters(['latent_dim=2,4']), mode='grid', seeds=2)\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------------------- validation before training


def nothing_written(root: Path) -> bool:
    return not any(root.rglob("*"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["vae", "latnet_dim=2,8"], "valid keys: .*model.latent_dim"),
        (["vae", "latent_dim=2,many"], "latent_dim=many: model.latent_dim must be an integer"),
        (["vae", "latent_dim=2,0"], "latent_dim=0: model.latent_dim must be at least 1"),
        (["vae", "beta=1,2", "--set", "epoks=3"], "unknown key 'epoks'"),
        (["vae", "beta=1,2", "--set", "out=elsewhere"], "set by the sweep"),
        (["vae", "beta=1,2", "--seeds", "0"], "at least 1"),
        (["vae", "beta=1,2", "--parallel", "0"], "at least 1"),
        (["vaee", "beta=1,2"], "unknown model family"),
    ],
)
def test_bad_parameters_fail_before_any_training(tmp_path, monkeypatch, argv, message):
    def must_not_train(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("genimg.train.trainer.train", must_not_train)
    out = tmp_path / "sweep"
    args = _parse(["sweep", *argv, "--out", str(out)])
    with pytest.raises(UserError, match=message):
        args.handler(args)
    assert not out.exists()
    assert nothing_written(tmp_path)


def test_resume_refuses_a_new_definition(tmp_path):
    args = _parse(["sweep", "vae", "beta=1,2", "--resume", str(tmp_path)])
    with pytest.raises(UserError, match="continues a sweep as it was defined"):
        args.handler(args)
    args = _parse(["sweep", "--resume", str(tmp_path)])
    with pytest.raises(UserError, match="not a sweep directory"):
        args.handler(args)


# ---------------------------------------------------------------------------- threads


def test_threads_per_worker_splits_the_cores():
    assert threads_per_worker(1, cores=2) == 2
    assert threads_per_worker(2, cores=2) == 1
    assert threads_per_worker(3, cores=2) == 1  # never zero
    assert threads_per_worker(2, cores=16) == 8
    assert threads_per_worker(3, cores=16) == 5
    with pytest.raises(UserError):
        threads_per_worker(0, cores=4)


def test_each_run_gets_its_share_of_the_cores(tmp_path):
    s = define_sweep("vae", {"latent_dim": [2, 4, 8]}, base=["epochs=1"], out=tmp_path / "s")
    tasks, states = plan_tasks(s, threads=threads_per_worker(2, cores=8))
    assert set(states.values()) == {"new"}
    assert [t.threads for t in tasks] == [4, 4, 4]
    assert all(t.config["train"]["threads"] == 4 for t in tasks)
    # threads set by the user are theirs to keep
    s = define_sweep("vae", {"latent_dim": [2, 4]}, base=["threads=3"], out=tmp_path / "t")
    tasks, _ = plan_tasks(s, threads=1)
    assert [t.threads for t in tasks] == [3, 3] and all(t.config["train"]["threads"] == 3 for t in tasks)


# ---------------------------------------------------------------------------- running and resuming


def test_sweep_trains_every_variant_then_evaluates_all_alike(tmp_path, no_evaluation, capsys):
    out = tmp_path / "s"
    s = define_sweep(
        "vae",
        {"latent_dim": [2, 4], "beta": [1, 2]},
        base=TINY,
        evaluation={"features": "classifier", "seed": 3, "n": 100},
        out=out,
    )
    outcome = run_sweep(s, cores=4)
    header = capsys.readouterr().out.splitlines()[0]
    assert header.endswith("1 worker(s) x 1 thread(s)")  # TINY's threads=1, not the worker's 4 cores
    names = ["base", "latent_dim=4", "beta=2.0"]
    assert [r.name for r in outcome.results] == names and not outcome.failed
    for name in names:
        run = RunDir.open(out / name)
        assert run.is_finished()
        assert run.summary()["epochs_trained"] == 2
        assert (out / "logs" / f"{name}.log").exists()
    assert RunDir.open(out / "latent_dim=4").config().model.latent_dim == 4
    assert RunDir.open(out / "beta=2.0").config().model.beta == 2.0
    assert RunDir.open(out / "beta=2.0").config().model.latent_dim == 2  # the base value, first listed
    assert sorted(no_evaluation) == sorted((n, {"features": "classifier", "seed": 3, "n": 100}) for n in names)
    recorded = json.loads((out / "sweep.json").read_text())
    assert recorded["family"] == "vae" and recorded["mode"] == "one-at-a-time"
    assert recorded["parameters"] == [{"key": "latent_dim", "values": [2, 4]}, {"key": "beta", "values": [1.0, 2.0]}]
    assert recorded["base_overrides"]["epochs"] == 2 and recorded["evaluation"]["n"] == 100
    assert [v["run_dir"] for v in recorded["variants"]] == names
    assert (out / "report.html").exists() and (out / "report.csv").exists()


def test_resume_skips_finished_runs_resumes_partial_ones_and_starts_the_rest(tmp_path, monkeypatch, no_evaluation):
    out = tmp_path / "s"
    s = define_sweep(
        "vae", {"latent_dim": [2, 4, 8]}, base=TINY, evaluation={"features": "classifier", "seed": 0}, out=out
    )
    run_sweep(s, quiet=True, report=False)
    # Interrupt: latent_dim=4 stopped after its first epoch; latent_dim=8 never started.
    partial = RunDir(out / "latent_dim=4")
    partial.summary_file.unlink()
    import torch

    state = torch.load(partial.checkpoint("last") / "state.pt", weights_only=False)
    state["trainer"]["epoch"] = 1
    torch.save(state, partial.checkpoint("last") / "state.pt")
    # The checkpoint's manifest checks every file: record the edited state's checksum, as a real write would.
    import hashlib
    import json

    manifest = partial.checkpoint("last") / "manifest.json"
    recorded = json.loads(manifest.read_text())
    edited = (partial.checkpoint("last") / "state.pt").read_bytes()
    recorded["files"]["state.pt"] = {"sha256": hashlib.sha256(edited).hexdigest(), "bytes": len(edited)}
    manifest.write_text(json.dumps(recorded))
    import shutil

    shutil.rmtree(out / "latent_dim=8")
    no_evaluation.clear()

    import genimg.train.trainer as trainer

    real_train = trainer.train
    calls = []

    def counting_train(config, resume=None, run_dir=None, quiet=False):
        calls.append((Path(resume or run_dir).name, "resume" if resume else "start"))
        return real_train(config, resume=resume, run_dir=run_dir, quiet=quiet)

    monkeypatch.setattr(trainer, "train", counting_train)
    outcome = resume_sweep(out, report=False, quiet=True)
    assert sorted(calls) == [("latent_dim=4", "resume"), ("latent_dim=8", "start")]
    assert outcome.skipped == ["base"]
    assert sorted(n for n, _ in no_evaluation) == ["latent_dim=4", "latent_dim=8"]  # base was evaluated before
    epochs = [r["epoch"] for r in RunDir(out / "latent_dim=4").metrics()]
    assert epochs[-1] == 2 and RunDir(out / "latent_dim=4").is_finished()
    # A second resume has nothing left to do.
    calls.clear()
    no_evaluation.clear()
    assert resume_sweep(out, report=False, quiet=True).results == [] and calls == [] and no_evaluation == []


def test_a_failing_variant_does_not_stop_the_others(tmp_path, monkeypatch, no_evaluation):
    def failing_evaluation(run_dir, settings, quiet=True):
        if Path(run_dir).name == "latent_dim=4":
            raise RuntimeError("evaluator exploded")
        return {}

    monkeypatch.setattr(sweep_evaluation, "evaluate_variant", failing_evaluation)
    s = define_sweep(
        "vae", {"latent_dim": [2, 4]}, base=TINY, evaluation={"features": "classifier", "seed": 0}, out=tmp_path / "s"
    )
    with pytest.raises(UserError, match=r"1 of 2 runs failed \(latent_dim=4\).*evaluator exploded.*--resume"):
        run_sweep(s, quiet=True)
    assert RunDir(tmp_path / "s" / "base").is_finished()
    assert "evaluator exploded" in (tmp_path / "s" / "logs" / "latent_dim=4.log").read_text()
    assert (tmp_path / "s" / "report.html").exists()


@pytest.mark.slow
def test_parallel_sweep_in_spawned_workers(tmp_path):
    out = tmp_path / "s"
    s = define_sweep("vae", {"latent_dim": [2, 4]}, base=[t for t in TINY if not t.startswith("threads")], out=out)
    outcome = run_sweep(s, parallel=2, quiet=True, report=False, cores=2)
    assert not outcome.failed, [r.error for r in outcome.results]
    for name in ("base", "latent_dim=4"):
        run = RunDir.open(out / name)
        assert run.is_finished() and run.config().train.threads == 1  # 2 cores / 2 workers
    assert Sweep.load(out).variants[1].values == {"latent_dim": 4}


def test_evaluation_settings_are_what_the_real_evaluator_accepts(tmp_path, monkeypatch):
    import genimg.evaluate.evaluator as evaluator
    from genimg.evaluate.options import EvaluationOptions

    settings = sweep_evaluation.evaluation_settings(n=100, features="classifier", seed=2, seeds=3, likelihood_k=50)
    assert settings == {"features": "classifier", "seed": 2, "n": 100, "seeds": 3, "likelihood_k": 50}
    seen = []
    monkeypatch.setattr(evaluator, "evaluate_run", lambda run_dir, options, **kwargs: seen.append((options, kwargs)))
    sweep_evaluation.evaluate_variant(tmp_path / "run", settings, quiet=True)
    assert seen == [(EvaluationOptions(**settings), {"progress": False})]  # what sweep.json records, rebuilt
    # checked by the same EvaluationOptions as `genimg evaluate`, when the sweep is defined
    with pytest.raises(UserError, match="unknown feature extractor 'incepshun'"):
        sweep_evaluation.evaluation_settings(features="incepshun")
    with pytest.raises(UserError, match="at least 2"):
        sweep_evaluation.evaluation_settings(n=1)
    fast = sweep_evaluation.evaluation_settings(sampler="ddim", steps=50, t_stride=10)
    assert fast["sample_options"] == {"sampler": "ddim", "steps": 50} and fast["t_stride"] == 10
    assert EvaluationOptions(**fast).sample_options == {"sampler": "ddim", "steps": 50}
    with pytest.raises(UserError, match="sampler must be one of ddpm, ddim"):
        sweep_evaluation.evaluation_settings(sampler="euler")
