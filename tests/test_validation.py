"""Validation before work: every config that could only fail later is refused before any data
loads and before anything is written; a run that fails later says so in its summary."""

import sys

import pytest
import torch

import genimg.train.batches as batches
from conftest import quick_overrides
from genimg.cli import main
from genimg.config.run_config import apply_overrides, config_for, default_config
from genimg.errors import UserError
from genimg.runs.directory import RunDir
from genimg.train.trainer import train

REFUSED = [
    ("dcgan", ["select_by=val_loss"], "select_by=val_loss needs a validation loss, which a dcgan does not have"),
    ("dcgan", ["select_by=fid", "fid_every=0"], "set train.fid_every=K"),
    ("vae", ["decoder=gaussian"], "decoder=gaussian is a density"),
    ("vae", ["dataset=mnist-sample", "decoder=bernoulli"], "data.binarize=0.5"),
    ("vae", ["dataset=mnist-sample", "decoder=categorical", "image_size=20"], "needs discrete data"),
    ("dcgan", ["image_size=7"], "DCGAN needs an even image size"),
    ("vae", ["dataset=nonsense"], "unknown dataset 'nonsense'"),
]


@pytest.fixture
def no_data_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the config was validated")

    monkeypatch.setattr(batches, "load_split", refuse)


@pytest.mark.parametrize("family, overrides, message", REFUSED)
def test_refused_before_any_data_loads_or_file_is_written(tmp_path, no_data_loads, family, overrides, message):
    config = config_for(family, quick_overrides(tmp_path, "refused") + overrides)
    with pytest.raises(UserError, match=message):
        train(config, quiet=True)
    assert not (tmp_path / "refused").exists()


def test_conditional_model_on_unlabelled_images_is_refused_before_the_run_exists(tmp_path):
    """A user's npz is only known once loaded; it is still refused before the directory is made."""
    import numpy as np

    np.savez(tmp_path / "faces.npz", x=(np.random.default_rng(0).random((60, 8, 8)) * 255).astype(np.uint8))
    config = config_for(
        "vae", quick_overrides(tmp_path, "cond") + [f"dataset=npz:{tmp_path / 'faces.npz'}", "conditional=true"]
    )
    with pytest.raises(UserError, match="conditional=true needs labelled data"):
        train(config, quiet=True)
    assert not (tmp_path / "cond").exists()


def test_the_cli_refuses_in_one_line_with_exit_code_2(tmp_path, capsys):
    code = main(["train", "dcgan", f"out={tmp_path}", "run_name=x", "select_by=val_loss"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "select_by=fid" in err[0]
    assert not (tmp_path / "x").exists()


def test_a_run_that_fails_after_it_started_says_so_and_how_to_continue(tmp_path, monkeypatch):
    config = apply_overrides(
        default_config("vae"), quick_overrides(tmp_path, "broken", epochs=3) + ["checkpoint_every_s=0"]
    )
    calls = {"n": 0}
    real_step = type(torch.optim.Adam([torch.zeros(1, requires_grad=True)])).step

    def failing_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 40:  # into the second epoch: the first one is checkpointed
            raise RuntimeError("disk on fire")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", failing_step)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(config, quiet=True)
    run = RunDir(tmp_path / "broken")
    assert run.status() == "failed" and "disk on fire" in run.summary()["error"]
    monkeypatch.undo()
    with pytest.raises(UserError, match=f"genimg train --resume {run.path}"):
        train(config, quiet=True)
    resumed = train(config, resume=run.path, quiet=True)
    assert resumed.run.status() == "finished" and resumed.summary["epochs_trained"] == 3


def test_a_cadence_of_zero_epochs_is_refused_where_it_is_set(capsys):
    assert main(["train", "vae", "eval_every=0"]) == 2
    assert "train.eval_every must be at least 1" in capsys.readouterr().err
    with pytest.raises(UserError, match="must be 0 \\(never\\) or a number of epochs"):
        config_for("vae", ["fid_every=-1"])


def test_a_missing_tensorboard_is_refused_before_the_run_directory_exists(tmp_path, monkeypatch, no_data_loads):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the extra were not installed
    config = config_for("vae", quick_overrides(tmp_path, "tb") + ["logger=tensorboard"])
    with pytest.raises(UserError, match="pip install 'genimg\\[tensorboard\\]'"):
        train(config, quiet=True)
    assert not (tmp_path / "tb").exists()
