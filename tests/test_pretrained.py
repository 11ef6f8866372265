"""The pretrained models shipped inside the package: what the index promises, ``genimg pretrained``,
``pretrained:NAME`` wherever a command takes a run, the SHA-256 checks with their one-line
errors, and the cache copy that commands write into."""

from __future__ import annotations

import hashlib
import shutil
import stat
from pathlib import Path

import pytest

from genimg.cli import main
from genimg.config.run_config import config_for, load_config
from genimg.errors import UserError
from genimg.experiments.report import build_report
from genimg.runs import pretrained
from genimg.runs.loading import load_model
from genimg.runs.pretrained import check_package, data_root, lookup, read_index
from genimg.runs.pretrained_copy import copy_dir, placed

MODELS = read_index()
DIGITS = ["vae-digits", "dcgan-digits", "diffusion-digits"]
VAE = "vae-digits"
# Settings that say where and how verbosely a run was written, not what it learned.
RUN_ONLY = {"out", "run_name", "progress", "logger"}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh genimg cache, so each test makes its own copy."""
    monkeypatch.setenv("GENIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def package(tmp_path, monkeypatch) -> Path:
    """A writable copy of the shipped index and VAE, standing in for the installed package."""
    root = tmp_path / "package"
    root.mkdir()
    shutil.copy(Path(data_root()) / "index.json", root / "index.json")
    shutil.copytree(Path(data_root()) / VAE, root / VAE)
    monkeypatch.setattr(pretrained, "data_root", lambda: root)
    return root


def flip_a_byte(path: Path, offset: int = -100) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("genimg: error: ") and "\n" not in err, err
    return err


# ---------------------------------------------------------------------------- what is shipped


def test_the_digits_models_are_shipped_whole_small_and_with_their_figures():
    assert set(DIGITS) <= set(MODELS)
    total = 0
    for model in MODELS.values():
        check_package(model)  # every listed file is there and matches its SHA-256
        folder = Path(data_root()) / model.name
        assert {p.name for p in folder.iterdir()} == set(model.files), "a file is shipped but not in the index"
        assert {"model.safetensors", "config.yaml", "spec.json", "summary.json"} <= set(model.files)
        assert model.test["fid"]["mean"] > 0 and model.test["fid_floor"] > 0 and model.test["seeds"] >= 1
        assert len(model.entry["prefix"]["sha256"]) == 64 and model.entry["prefix"]["epochs"] >= 1
        total += model.total_bytes
    # The budget for everything shipped (float32 weights): a few MB per model, the 28x28 ones included.
    assert total < 25e6, f"the shipped models take {total / 1e6:.1f} MB"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_shipped_config_is_what_its_recorded_command_trains(name):
    model = MODELS[name]
    assert model.command.startswith(f"genimg train {model.family} ")
    assert set(model.entry["overrides"]) <= set(model.command.split()[3:])
    assert {"threads=1", "device=cpu"} <= set(model.entry["overrides"]), "bit-exact training needs both"
    wanted = config_for(model.family, model.entry["overrides"]).to_dict()
    shipped = load_config(Path(data_root()) / name / "config.yaml").to_dict()
    for section in ("data", "model", "train"):
        for key, value in wanted[section].items():
            if key not in RUN_ONLY:
                assert shipped[section][key] == value, f"{section}.{key}"


def test_the_test_figures_are_those_of_the_shipped_evaluation():
    for name, model in MODELS.items():
        evaluation = (Path(data_root()) / name / "evaluation.json").read_text()
        assert str(model.test["fid"]["mean"]) in evaluation


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_shipped_model_loads_and_samples(name, cache):
    model = load_model(f"pretrained:{name}")
    images = model.sample(4, **model.monitoring_sample_options())
    assert images.shape == (4, *model.spec.image_shape) and 0 <= images.min() <= images.max() <= 1


# ---------------------------------------------------------------------------- commands


def test_genimg_pretrained_lists_every_model_with_its_figures_and_details_one(capsys):
    assert main(["pretrained"]) == 0
    out = capsys.readouterr().out
    for name, model in MODELS.items():
        assert f"pretrained:{name}" in out and model.command in out
    assert "FID" in out and "MB in all" in out
    assert main(["pretrained", VAE]) == 0
    out = capsys.readouterr().out
    assert MODELS[VAE].sha256 in out and MODELS[VAE].entry["prefix"]["sha256"] in out


def test_sample_reads_a_pretrained_model_from_a_read_only_copy_in_the_cache(cache, capsys):
    assert main(["sample", f"pretrained:{VAE}", "--n", "4"]) == 0
    copy = copy_dir(MODELS[VAE])
    assert copy.is_relative_to(cache) and (copy / "samples" / "sample-seed0.png").exists()
    assert str(copy) in capsys.readouterr().out
    weights = copy / placed(MODELS[VAE], "model.safetensors")
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == MODELS[VAE].sha256
    for file in ("config.yaml", "summary.json"):
        assert stat.S_IMODE((copy / file).stat().st_mode) & 0o222 == 0, f"{file} is writable"


def test_explore_writes_into_the_cache_copy_not_the_package(cache):
    assert main(["explore", f"pretrained:{VAE}", "--what", "interp", "--n", "2", "--steps", "4"]) == 0
    assert (copy_dir(MODELS[VAE]) / "explore" / "interp_linear.png").exists()
    assert not (Path(data_root()) / VAE / "explore").exists()


def test_runs_and_report_take_a_pretrained_model(cache, capsys):
    assert main(["runs", f"pretrained:{VAE}"]) == 0
    assert "finished" in capsys.readouterr().out
    out = build_report([f"pretrained:{VAE}"])
    assert out == copy_dir(MODELS[VAE]) / "report.html" and "FID" in out.read_text()


def test_an_unknown_name_is_one_line_naming_the_valid_ones(capsys):
    assert main(["sample", "pretrained:no-such-model"]) == 2
    err = one_line_error(capsys)
    assert "unknown pretrained model 'no-such-model'" in err
    assert all(f"pretrained:{name}" in err for name in MODELS)


def test_a_damaged_shipped_file_is_one_line(package, cache, capsys):
    flip_a_byte(package / VAE / "model.safetensors")
    assert main(["sample", f"pretrained:{VAE}"]) == 2
    err = one_line_error(capsys)
    assert f"{VAE}/model.safetensors is damaged" in err and "reinstall genimg" in err
    assert main(["pretrained", VAE]) == 2  # the details check every file too
    one_line_error(capsys)


def test_a_damaged_index_is_one_line(package, capsys):
    (package / "index.json").write_text('{"format": 1, "models": {"x": ')
    assert main(["pretrained"]) == 2
    assert "index of pretrained models" in one_line_error(capsys)


def test_a_damaged_cache_copy_is_restored_from_the_package(cache, capsys):
    assert main(["sample", f"pretrained:{VAE}", "--n", "2"]) == 0
    weights = copy_dir(MODELS[VAE]) / placed(MODELS[VAE], "model.safetensors")
    flip_a_byte(weights)
    (copy_dir(MODELS[VAE]) / "spec.json").unlink()
    capsys.readouterr()
    assert main(["sample", f"pretrained:{VAE}", "--n", "2"]) == 0
    assert "restored checkpoints/best/model.safetensors" in capsys.readouterr().err
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == MODELS[VAE].sha256
    assert (copy_dir(MODELS[VAE]) / "spec.json").exists()


def test_the_copy_loaded_by_its_path_still_checks_the_weights(cache):
    load_model(f"pretrained:{VAE}")  # makes the copy
    copy = copy_dir(MODELS[VAE])
    flip_a_byte(copy / placed(MODELS[VAE], "model.safetensors"))
    with pytest.raises(UserError, match=f"damaged.*pretrained:{VAE}"):
        load_model(copy)


def test_a_pretrained_model_cannot_be_resumed(capsys):
    assert main(["train", "--resume", f"pretrained:{VAE}", "epochs=5"]) == 2
    err = one_line_error(capsys)
    assert "cannot be resumed" in err and MODELS[VAE].command in err


def test_raw_weights_of_an_ema_model_are_refused_in_one_line(cache, capsys):
    name = next(n for n, m in MODELS.items() if m.weights == "ema")
    assert main(["sample", f"pretrained:{name}", "--no-ema"]) == 2
    assert "ships only its EMA weights" in one_line_error(capsys)
    assert lookup(name).weights == "ema"


def test_a_cache_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GENIMG_CACHE", str(tmp_path / "file"))
    assert main(["sample", f"pretrained:{VAE}"]) == 2
    assert "set GENIMG_CACHE to a directory you can write to" in one_line_error(capsys)
