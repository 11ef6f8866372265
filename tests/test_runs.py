"""`genimg runs` shows every run with what a crash left; a full disk or a read-only directory is one
line with the previous checkpoint intact; everything genimg writes is strict JSON."""

import errno
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402,F401
from conftest import quick_overrides  # noqa: E402
from genimg.cli import main  # noqa: E402
from genimg.errors import UserError  # noqa: E402
from genimg.io import append_jsonl, read_jsonl, write_json  # noqa: E402
from genimg.runs import checkpoint  # noqa: E402
from genimg.runs.directory import RunDir  # noqa: E402
from genimg.runs.loading import load_model  # noqa: E402
from genimg.runs.status import mark  # noqa: E402
from genimg.tasks.recover.run import score  # noqa: E402
from genimg.train import apply_overrides, default_config, train  # noqa: E402


def config(tmp_path, name, epochs=2, *extra):
    overrides = quick_overrides(tmp_path, name, epochs=epochs) + ["checkpoint_every_s=0", *extra]
    return apply_overrides(default_config("tiny-ae"), overrides)


def strict_loads(text):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_genimg_runs_lists_status_epochs_kept_checkpoint_and_numbers(tmp_path, capsys):
    train(config(tmp_path, "done"), quiet=True)
    with pytest.raises(UserError):
        train(config(tmp_path, "nan", 2, "lr=inf"), quiet=True)
    killed = train(config(tmp_path, "killed", 1), quiet=True).run
    mark(killed, "running")  # what a SIGKILL leaves: running, and nobody holding the lock
    train(config(tmp_path / "sweep", "variant", 1), quiet=True)  # runs nested in a folder are found
    damaged = train(config(tmp_path, "damaged", 1), quiet=True).run
    damaged.summary_file.write_text("{not json")
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["done"].split()[1:6] == ["tiny-ae", "digits", "finished", "2/2", "best@2"]
    assert rows["nan"].split()[3] == "diverged" and "training diverged at step" in out
    assert rows["killed"].split()[3] == "stopped"
    assert f"continue with `genimg train --resume {killed.path}`" in out
    assert rows["sweep/variant"].split()[3] == "finished"
    assert rows["damaged"].split()[3] == "damaged" and "summary.json is unreadable" in out
    assert main(["runs", str(tmp_path), "--json"]) == 0
    listed = [strict_loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["status"] for r in listed} == {"finished", "diverged", "stopped", "damaged"}


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    real = checkpoint.write_bytes

    def fill_up(path, data):
        if (tmp_path / "full" / "checkpoints" / "last").exists():  # the disk is full after the first checkpoint
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_bytes", fill_up)
    args = ["train", "tiny-ae", *quick_overrides(tmp_path, "full", epochs=3), "checkpoint_every_s=0"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on the device" in err[0] and "previous checkpoint is intact" in err[0]
    run = RunDir(tmp_path / "full")
    assert checkpoint.checkpoint_info(run.checkpoint("last"))["epoch"] == 1
    load_model(run.path, which="last")  # whole, and checked against its manifest
    assert not [p for p in run.checkpoint("last").parent.iterdir() if p.name.startswith(".")]
    assert run.status() == "failed"


def test_a_read_only_output_directory_is_one_line(tmp_path, monkeypatch, capsys):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):  # tests may run as root, whom chmod does not stop
        if str(self).startswith(str(read_only)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["train", "tiny-ae", *quick_overrides(read_only, "run", epochs=1)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "read-only file system" in err[0] and "train.out=DIR" in err[0]


def test_json_is_strict_and_counts_what_it_could_not_write(tmp_path):
    x = torch.rand(4, 1, 8, 8)
    table = score(x, x)  # exact recoveries: infinite PSNR; NaN spread
    write_json(tmp_path / "r.json", {"degraded": table, "values": [1.0, math.inf, math.nan]})
    data = strict_loads((tmp_path / "r.json").read_text())
    assert data["values"] == [1.0, None, None] and data["values_nonfinite"] == {"inf": 1, "nan": 1}
    assert data["degraded"]["psnr"]["num_infinite"] == 4
    assert all(data["degraded"]["psnr"][k] is None for k in ("mean", "std"))
    assert data["degraded"]["psnr"]["mean_nonfinite"] in ({"inf": 1}, {"nan": 1})
    append_jsonl(tmp_path / "m.jsonl", {"epoch": 1, "train": {"loss": math.nan}})
    (record,) = read_jsonl(tmp_path / "m.jsonl")
    assert record["train"] == {"loss": None, "loss_nonfinite": {"nan": 1}}


def test_a_resumed_run_records_the_config_it_continued_with(tmp_path):
    assert main(["train", "vae", *quick_overrides(tmp_path, "grow", epochs=1)]) == 0
    assert main(["train", "--resume", str(tmp_path / "grow"), "epochs=2", "likelihood_at_end=false"]) == 0
    config = RunDir.open(tmp_path / "grow").config()
    assert config.train.epochs == 2 and config.train.likelihood_at_end is False
    assert RunDir.open(tmp_path / "grow").summary()["epochs_trained"] == 2
