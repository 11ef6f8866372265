"""Every file of a run directory (and a sweep's sweep.json), cut short, bit-flipped or garbled, is
one UserError naming the file and the fix, or read back correctly; never a traceback. Through
the command line: exit code 2, one line, nothing overwritten. A line torn by a kill at the end
of metrics.jsonl is tolerated, and repaired on resume."""

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402,F401
from conftest import quick_overrides  # noqa: E402
from genimg.cli import main  # noqa: E402
from genimg.config.run_config import RunConfig  # noqa: E402
from genimg.data.spec import DataSpec  # noqa: E402
from genimg.experiments.sweep import Sweep, define_sweep  # noqa: E402
from genimg.io import write_json  # noqa: E402
from genimg.runs.checkpoint import load_state  # noqa: E402
from genimg.runs.directory import RunDir  # noqa: E402
from genimg.runs.loading import load_model  # noqa: E402
from genimg.train import apply_overrides, default_config, resume_config, train  # noqa: E402
from test_corrupt_fuzzing import fuzz  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-epoch run with an EMA and an evaluation: every file a run directory has."""
    tmp = tmp_path_factory.mktemp("runs")
    overrides = quick_overrides(tmp, "run", epochs=2) + ["ema_decay=0.9", "checkpoint_every_s=0"]
    run = train(apply_overrides(default_config("tiny-ae"), overrides), quiet=True).run
    write_json(run.eval_dir / "metrics.json", {"scores": {"fid": {"mean": 1.5, "std": 0.1}}, "n": 10})
    return run


def same_weights(model, reference):
    state = model.state_dict()
    return all(torch.equal(state[k], v) for k, v in reference.state_dict().items())


@pytest.mark.parametrize("which", ["model", "ema"])
def test_weights(finished_run, which):
    reference = load_model(finished_run.path, which="last", ema=which == "ema")
    path = finished_run.checkpoint("last") / f"{which}.safetensors"
    fuzz(
        f"{which}.safetensors",
        path,
        lambda: load_model(finished_run.path, which="last", ema=which == "ema"),
        lambda model: same_weights(model, reference),
    )


def test_training_state(finished_run):
    path = finished_run.checkpoint("last") / "state.pt"
    reference = load_state(path)
    fuzz("state.pt", path, lambda: load_state(path), lambda state: state["trainer"] == reference["trainer"])


def test_checkpoint_manifest(finished_run):
    reference = load_model(finished_run.path, which="last")
    path = finished_run.checkpoint("last") / "manifest.json"
    # A damaged manifest names itself, or the file whose checksum it no longer matches.
    fuzz(
        "manifest.json",
        path,
        lambda: load_model(finished_run.path, which="last"),
        lambda model: same_weights(model, reference),
        names=("manifest.json",),
    )


def test_config(finished_run):
    # A flipped digit can make another valid config (epochs: 2 -> 6); what it must never be is a crash.
    fuzz("config.yaml", finished_run.config_file, finished_run.config, lambda c: isinstance(c, RunConfig))


def test_spec(finished_run):
    fuzz("spec.json", finished_run.spec_file, finished_run.spec, lambda s: isinstance(s, DataSpec))


def test_metrics(finished_run):
    reference = finished_run.metrics()

    def prefix_or_valid(records):  # cut short: the lines before the cut; else a well-formed record per line
        return records == reference[: len(records)] or all(isinstance(r["epoch"], int) for r in records)

    fuzz("metrics.jsonl", finished_run.metrics_file, finished_run.metrics, prefix_or_valid)


def test_summary_and_evaluation(finished_run):
    fuzz("summary.json", finished_run.summary_file, finished_run.summary, lambda s: isinstance(s, dict))
    evaluation = finished_run.eval_dir / "metrics.json"
    fuzz("eval/metrics.json", evaluation, finished_run.evaluation, lambda s: isinstance(s, dict))


def test_sweep_definition(tmp_path):
    sweep = define_sweep("tiny-ae", {"hidden": [8, 16]}, base={"epochs": 1}, out=tmp_path / "sweep")
    sweep.path.mkdir()
    sweep.save()
    fuzz("sweep.json", sweep.path / "sweep.json", lambda: Sweep.load(sweep.path), lambda s: isinstance(s, Sweep))


def _snapshot(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


CLI_CASES = {  # file -> how it is damaged, and the command that reads it
    "checkpoints/last/model.safetensors": (_flip_middle, "resume"),
    "checkpoints/last/state.pt": (lambda p: p.write_bytes(p.read_bytes()[:100]), "resume"),
    "checkpoints/last/manifest.json": (lambda p: p.write_text("{"), "resume"),
    "metrics.jsonl": (lambda p: p.write_text('{"epoch": 1}\n{"epo\n' + p.read_text()), "resume"),
    "summary.json": (lambda p: p.write_bytes(b"\x00\xff"), "resume"),
    "config.yaml": (lambda p: p.write_text("family: [unclosed"), "sample"),
    "spec.json": (lambda p: p.write_text('{"image_shape": "8x8"}'), "sample"),
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_the_cli_refuses_in_one_line_and_overwrites_nothing(finished_run, tmp_path, capsys, name):
    run = tmp_path / "run"
    shutil.copytree(finished_run.path, run)
    damage, verb = CLI_CASES[name]
    damage(run / name)
    before = _snapshot(run)
    sample = ["sample", str(run), "--out", str(tmp_path / "s.png")]
    args = ["train", "--resume", str(run)] if verb == "resume" else sample
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name.split("/")[-1] in err[0] and "Traceback" not in err[0], err
    assert _snapshot(run) == before


def test_a_sweep_definition_refused_on_resume(tmp_path, capsys):
    sweep = define_sweep("tiny-ae", {"hidden": [8, 16]}, base={"epochs": 1}, out=tmp_path / "sweep")
    sweep.path.mkdir()
    sweep.save()
    (sweep.path / "sweep.json").write_text('{"family": "tiny-ae", "variants": 3}')
    assert main(["sweep", "--resume", str(sweep.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep.json is not a sweep definition" in err[0]


def test_a_line_torn_by_a_kill_is_tolerated_and_repaired_on_resume(finished_run, tmp_path):
    run = RunDir(tmp_path / "run")
    shutil.copytree(finished_run.path, run.path)
    whole = run.metrics_file.read_text()
    run.metrics_file.write_text(whole + '{"epoch": 3, "train": {"lo')  # a kill during the append of epoch 3
    assert run.metrics() == finished_run.metrics()
    train(resume_config(run.path), resume=run.path, quiet=True)
    assert run.metrics_file.read_text() == whole
