import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402,F401
from conftest import quick_overrides  # noqa: E402
from genimg.errors import UserError  # noqa: E402
from genimg.runs.directory import RunDir  # noqa: E402
from genimg.train import apply_overrides, default_config, load_model, resume_config, train  # noqa: E402
from genimg.train.ema import EMA  # noqa: E402


def vae_config(tmp_path, name, **extra):
    return apply_overrides(
        default_config("vae"),
        quick_overrides(tmp_path, name, **extra) + ["hidden=64", "patience=null", "iw_samples=1", "batch_size=100"],
    )


def weights(run: RunDir, which="last"):
    return load_file(str(run.checkpoint(which) / "model.safetensors"))


def test_run_directory_holds_the_record(tmp_path):
    result = train(vae_config(tmp_path, "r", epochs=3), quiet=True)
    run = result.run
    for f in ("config.yaml", "spec.json", "metrics.jsonl", "summary.json", "samples.png", "reconstructions.png"):
        assert (run.path / f).exists(), f
    records = run.metrics()
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"train", "val", "test"} <= set(records[0])
    summary = run.summary()
    assert summary["finished"] and summary["likelihood"]["nll_iw_nats"] < summary["likelihood"]["nll_elbo_nats"] + 1
    assert run.config() == vae_config(tmp_path, "r", epochs=3)


def test_resume_continues_exactly(tmp_path):
    """6 epochs in one go == 3 epochs, then resumed for 3 more: identical weights and optimiser."""
    full = train(vae_config(tmp_path, "full", epochs=6), quiet=True).run
    half = train(vae_config(tmp_path, "half", epochs=3), quiet=True).run
    train(resume_config(half.path, ["epochs=6"]), resume=half.path, quiet=True)
    a, b = weights(full), weights(half)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["train"]["loss"] for r in full.metrics()] == [r["train"]["loss"] for r in half.metrics()]


# Tiny configs of the other families: two optimisers, augmentation noise, an EMA and evaluation
# only every 10 epochs, so the half run evaluates an epoch the full run does not (DCGAN);
# learning-rate warm-up, random timesteps and an EMA (diffusion). Selection by val loss, or the
# last checkpoint kept (select_by=last), so no classifier is trained here.
OTHER_FAMILIES = {
    "dcgan": [
        "g_features=8",
        "d_features=8",
        "latent_dim=8",
        "translate=0.25",
        "ema_decay=0.9",
        "select_by=last",
        "fid_every=0",
        "data.limit=128",
        "batch_size=32",
    ],
    "diffusion": [
        "channels=8",
        "attention=false",
        "norm_groups=4",
        "timesteps=50",
        "warmup_steps=5",
        "ema_decay=0.9",
        "select_by=val_loss",
        "eval_every=1",
        "fid_every=0",
        "sample_every=0",
        "data.limit=128",
        "batch_size=32",
    ],
}


@pytest.mark.parametrize("family", sorted(OTHER_FAMILIES))
def test_resume_continues_exactly_for_every_family(tmp_path, family):
    def config(name, epochs):
        return apply_overrides(
            default_config(family), quick_overrides(tmp_path, name, epochs=epochs) + OTHER_FAMILIES[family]
        )

    full = train(config("full", 4), quiet=True).run
    half = train(config("half", 2), quiet=True).run
    train(resume_config(half.path, ["epochs=4"]), resume=half.path, quiet=True)
    for which in ("model", "ema"):
        a = load_file(str(full.checkpoint("last") / f"{which}.safetensors"))
        b = load_file(str(half.checkpoint("last") / f"{which}.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), which
    assert [r["train"] for r in full.metrics()] == [r["train"] for r in half.metrics()]


def test_existing_run_is_not_overwritten(tmp_path):
    train(vae_config(tmp_path, "same", epochs=1), quiet=True)
    with pytest.raises(UserError, match="resume"):
        train(vae_config(tmp_path, "same", epochs=1), quiet=True)


def test_early_stopping_keeps_the_best_checkpoint(tmp_path):
    # A learning rate this high makes validation loss stop improving quickly.
    c = apply_overrides(
        default_config("vae"),
        quick_overrides(tmp_path, "es", epochs=40)
        + ["patience=2", "lr=0.05", "iw_samples=1", "batch_size=100", "hidden=64"],
    )
    result = train(c, quiet=True)
    s = result.summary
    assert s["stopped_early"] and s["epochs_trained"] < 40
    best = min(result.run.metrics(), key=lambda r: r["val"]["loss"])
    assert s["best_epoch"] == best["epoch"]
    assert s["epochs_trained"] == s["best_epoch"] + 2
    kept = load_model(result.run.path)
    best_weights = weights(result.run, "best")
    assert all(torch.equal(v, best_weights[k]) for k, v in kept.state_dict().items())


def test_ema_averages_parameters_and_copies_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    model[1].register_buffer("schedule", torch.arange(2.0))
    ema = EMA(model, decay=0.5)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(2.0)
        model[1].schedule.add_(10.0)
        model[1].running_mean.fill_(3.0)
    ema.update(model)
    assert torch.allclose(ema.module[0].weight, before + 1.0)  # halfway: averaged
    assert torch.equal(ema.module[1].schedule, model[1].schedule)  # copied, never averaged
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)


def test_ema_run_samples_from_ema_weights(tmp_path):
    result = train(vae_config(tmp_path, "ema", epochs=2, ema_decay=0.9), quiet=True)
    ckpt = result.run.checkpoint("last")
    assert (ckpt / "ema.safetensors").exists()
    raw, ema = load_file(str(ckpt / "model.safetensors")), load_file(str(ckpt / "ema.safetensors"))
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)
    loaded = load_model(result.run.path, which="last")
    assert all(torch.equal(v, ema[k]) for k, v in loaded.state_dict().items())


def test_deterministic_family_needs_no_branching(tmp_path):
    c = apply_overrides(default_config("tiny-ae"), quick_overrides(tmp_path, "ae", epochs=2))
    result = train(c, quiet=True)
    losses = [r["train"]["loss"] for r in result.run.metrics()]
    assert losses[1] < losses[0]


def test_budget_stops_near_it_and_replays_bit_exactly(tmp_path):
    """A CPU budget ends the run within one epoch of it; `epochs=N budget=null` replays it exactly."""
    budgeted = train(vae_config(tmp_path, "budget", budget="3s", epochs=1), quiet=True).run
    summary = budgeted.summary()
    epochs = summary["epochs_trained"]
    assert summary["stopped_by_budget"] and summary["budget_seconds"] == 3.0 and epochs > 1  # epochs=1 not used
    mean_epoch = summary["budget_spent_s"] / epochs
    assert abs(summary["budget_spent_s"] - 3.0) <= mean_epoch * 1.5 + 0.1  # the nearest epoch boundary
    assert summary["replay"] == f"epochs={epochs} budget=null"
    replay = train(vae_config(tmp_path, "replay", epochs=epochs), quiet=True).run
    a, b = weights(budgeted), weights(replay)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_budgeted_run_resumed_with_a_larger_budget_goes_on(tmp_path):
    run = train(vae_config(tmp_path, "grow", budget="1s"), quiet=True).run
    first = run.summary()["epochs_trained"]
    train(resume_config(run.path, ["budget=3s"]), resume=run.path, quiet=True)
    summary = run.summary()
    assert summary["epochs_trained"] > first and summary["budget"] == "3s"
    assert [r["epoch"] for r in run.metrics()] == list(range(1, summary["epochs_trained"] + 1))


def test_budget_is_checked_before_work(tmp_path):
    with pytest.raises(UserError, match="train.budget must be a positive duration"):
        vae_config(tmp_path, "bad", budget="5 minutes")
    assert apply_overrides(default_config("vae"), {"budget": "wall:2m"}).train.budget == "wall:2m"
