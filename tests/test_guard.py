"""The divergence guard: a non-finite loss or gradient norm stops the run at that step, in one
line naming where and what to try, with the run marked diverged and its last good checkpoint
untouched; or, with train.skip_nonfinite=N, up to N such steps are skipped and counted."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402
from conftest import quick_overrides  # noqa: E402
from genimg.cli import main  # noqa: E402
from genimg.runs.directory import RunDir  # noqa: E402
from genimg.train import apply_overrides, default_config, train  # noqa: E402
from genimg.train.guard import Diverged  # noqa: E402

# Tiny configs with an absurd learning rate: each diverges within the first few steps.
ABSURD = {
    "vae": ["hidden=16", "iw_samples=1", "lr=1e30"],
    "dcgan": ["g_features=8", "d_features=8", "latent_dim=8", "select_by=last", "fid_every=0", "data.limit=64"]
    + ["batch_size=32", "lr_g=1e30", "lr_d=1e30"],
    "diffusion": ["channels=8", "attention=false", "norm_groups=4", "timesteps=50", "warmup_steps=0"]
    + ["select_by=val_loss", "fid_every=0", "sample_every=0", "data.limit=64", "batch_size=32", "lr=1e30"],
    # Its sigmoid decoder saturates (no gradient) before any finite rate overflows.
    "tiny-ae": ["lr=inf"],
}


@pytest.mark.parametrize("family", sorted(ABSURD))
def test_an_absurd_learning_rate_stops_the_run_as_diverged(tmp_path, family):
    config = apply_overrides(default_config(family), quick_overrides(tmp_path, "nan", epochs=2) + ABSURD[family])
    with pytest.raises(Diverged) as caught:
        train(config, quiet=True)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    for part in ("diverged at step", "(epoch 1)", "optimiser '", "lower learning rate", "train.grad_clip", "fp32"):
        assert part in message, part
    run = RunDir(tmp_path / "nan")
    summary = run.summary()
    assert summary["status"] == "diverged" and summary["error"] == message
    assert not run.checkpoint("last").exists() and run.metrics() == []


def test_the_cli_says_it_in_one_line_with_exit_code_2(tmp_path, capsys):
    code = main(["train", "tiny-ae", *quick_overrides(tmp_path, "cli", epochs=1), *ABSURD["tiny-ae"]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "training diverged at step" in err[0]


class _PoisonAt:
    """TinyAE.training_step with NaN images at the given calls (1-based): a bad batch."""

    def __init__(self, monkeypatch, calls):
        self.calls, self.n = set(calls), 0
        real = models_for_tests.TinyAE.training_step

        def poisoned(model, batch, stepper):
            self.n += 1
            if self.n in self.calls:
                batch = type(batch)(batch.images * float("nan"), batch.labels)
            return real(model, batch, stepper)

        monkeypatch.setattr(models_for_tests.TinyAE, "training_step", poisoned)


def ae_config(tmp_path, name, epochs, *extra):
    return apply_overrides(
        default_config("tiny-ae"),
        quick_overrides(tmp_path, name, epochs=epochs) + ["checkpoint_every_s=0", "batch_size=100", *extra],
    )


def test_the_last_good_checkpoint_is_untouched(tmp_path, monkeypatch):
    clean = train(ae_config(tmp_path, "clean", 1), quiet=True).run
    _PoisonAt(monkeypatch, [13])  # the third step of epoch 2 (10 steps an epoch)
    with pytest.raises(Diverged, match=r"at step 13 \(epoch 2\).*checkpoints/last \(epoch 1\), is untouched"):
        train(ae_config(tmp_path, "bad", 2), quiet=True)
    bad = RunDir(tmp_path / "bad")
    model = "model.safetensors"
    assert (bad.checkpoint("last") / model).read_bytes() == (clean.checkpoint("last") / model).read_bytes()
    states = [torch.load(r.checkpoint("last") / "state.pt", weights_only=True) for r in (bad, clean)]
    assert states[0]["trainer"]["step"] == states[1]["trainer"]["step"] == 10
    assert [r["epoch"] for r in bad.metrics()] == [1]
    assert bad.status() == "diverged" and bad.summary()["checkpoint_epoch"] == 1


def test_skipped_steps_are_counted_and_make_no_update(tmp_path, monkeypatch):
    _PoisonAt(monkeypatch, [3, 15])
    result = train(ae_config(tmp_path, "skip", 2, "skip_nonfinite=2"), quiet=True)
    records = result.run.metrics()
    assert [r.get("nonfinite_skipped") for r in records] == [1, 1]
    assert all(torch.isfinite(torch.tensor(v)) for r in records for v in r["train"].values())
    weights = load_file(str(result.run.checkpoint("last") / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert result.run.status() == "finished"


def test_one_step_more_than_allowed_stops_the_run(tmp_path, monkeypatch):
    _PoisonAt(monkeypatch, [2, 4, 6])
    with pytest.raises(Diverged, match="at step 6 .*after skipping 2 such steps"):
        train(ae_config(tmp_path, "many", 2, "skip_nonfinite=2"), quiet=True)


def test_a_negative_skip_limit_is_refused(tmp_path):
    with pytest.raises(Exception, match="skip_nonfinite"):
        ae_config(tmp_path, "neg", 1, "skip_nonfinite=-1")
