"""train.logger=tensorboard: what a real run writes, read back with TensorBoard's own reader
(``event_accumulator``), and the optional extra staying optional."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import quick_overrides
from genimg.errors import UserError
from genimg.runs.directory import RunDir
from genimg.train import apply_overrides, default_config, train
from genimg.train.tensorboard import TensorBoardLogger

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="the tensorboard extra is not installed"
)
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

EVERYTHING = {
    event_accumulator.SCALARS: 0,
    event_accumulator.IMAGES: 0,
    event_accumulator.TENSORS: 0,
}


def read_events(directory: Path):
    accumulator = event_accumulator.EventAccumulator(str(directory), size_guidance=EVERYTHING)
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in accumulator.Scalars(tag)}


def hparams_of(accumulator) -> tuple[dict, list[str]]:
    """(hyper-parameters of the run's session, the metric tags the experiment declares)."""
    content = accumulator.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    values = {}
    for key, value in start.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        values[key] = getattr(value, kind)
    return values, [m.name.tag for m in experiment.experiment.metric_infos]


def test_a_run_logs_scalars_sample_grids_fid_and_hyperparameters(tmp_path):
    overrides = quick_overrides(tmp_path, "tb", epochs=2) + [
        "logger=tensorboard",
        "sample_every=1",
        "fid_every=2",
        "fid_samples=100",
        "hidden=32",
        "latent_dim=4",
        "iw_samples=1",
        "data.limit=300",
    ]
    result = train(apply_overrides(default_config("vae"), overrides), quiet=True)
    run = result.run
    assert (run.path / "tensorboard").is_dir()
    events = read_events(run.path / "tensorboard")
    records = run.metrics()
    for tag in ("train/loss", "val/loss", "test/loss", "time_s", "cpu_s"):
        logged = scalars(events, tag)
        recorded = {r["epoch"]: r[tag.split("/")[0]][tag.split("/")[1]] if "/" in tag else r[tag] for r in records}
        assert logged == pytest.approx(recorded, rel=1e-6), tag  # float32 in the event file
    assert scalars(events, "fid") == pytest.approx({2: records[1]["fid"]}, rel=1e-6)  # when measured only
    assert set(scalars(events, "class_entropy")) == {2}
    grids = events.Images("samples")
    assert [g.step for g in grids] == [1, 2]
    assert (grids[0].height, grids[0].width) == (8 * 9 + 1, 8 * 9 + 1)  # 8 x 8 digits of 8 px, 1 px apart
    hyper, metric_tags = hparams_of(events)
    assert hyper["family"] == "vae" and hyper["model.latent_dim"] == 4 and hyper["train.logger"] == "tensorboard"
    assert hyper["data.limit"] == 300 and hyper["train.ema_decay"] == "None"  # every field, None as text
    summary = result.summary
    assert "final/train_cpu_s" in metric_tags and "final/test/loss" in metric_tags
    assert "final/likelihood/nll_iw_bpd" in metric_tags
    for tag in metric_tags:  # the HParams view finds a scalar for every metric it declares
        (value,) = scalars(events, tag).values()
        path = tag.removeprefix("final/").split("/")
        expected = summary[path[0]] if len(path) == 1 else summary[path[0]][path[1]]
        assert value == pytest.approx(expected, rel=1e-6), tag


def test_a_resumed_run_shows_each_epoch_once(tmp_path):
    """The writer opens with purge_step at the first epoch it is given, so epochs the interrupted
    run logged after its last checkpoint are replaced by the re-trained ones."""
    config = apply_overrides(default_config("vae"), quick_overrides(tmp_path, "r") + ["logger=tensorboard"])
    run = RunDir(tmp_path / "r")
    first = TensorBoardLogger(config, run)
    for epoch in (1, 2, 3):
        first.epoch({"epoch": epoch, "step": epoch * 10, "train": {"loss": 10.0 - epoch}})
    first.writer.flush()  # killed here: no finish()
    second = TensorBoardLogger(config, run)
    for epoch in (3, 4):  # the last checkpoint was after epoch 2
        second.epoch({"epoch": epoch, "step": epoch * 10, "train": {"loss": 100.0 + epoch}})
    second.images("samples", torch.rand(64, 1, 8, 8), 4)
    second.finish(config, {"epochs_trained": 4, "train_cpu_s": 1.5})
    events = read_events(run.path / "tensorboard")
    assert scalars(events, "train/loss") == {1: 9.0, 2: 8.0, 3: 103.0, 4: 104.0}
    assert scalars(events, "final/train_cpu_s") == {4: 1.5}


def test_a_missing_tensorboard_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # what an import without the extra does
    config = apply_overrides(default_config("vae"), quick_overrides(tmp_path, "m") + ["logger=tensorboard"])
    with pytest.raises(UserError, match=r"pip install 'genimg\[tensorboard\]'"):
        TensorBoardLogger(config, RunDir(tmp_path / "m"))


def test_logger_none_loads_no_tensorboard(tmp_path):
    code = (
        "import sys, json\n"
        "from genimg.train import default_config\n"
        "from genimg.train.loggers import make_logger\n"
        "from genimg.runs.directory import RunDir\n"
        f"logger = make_logger(default_config('vae'), RunDir({str(tmp_path)!r}))\n"
        "logger.epoch({'epoch': 1}); logger.finish(None, {})\n"
        "print(json.dumps([m for m in sys.modules if 'tensorboard' in m and m != 'genimg.train.tensorboard']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert not (tmp_path / "tensorboard").exists()
