"""genimg as an installable package: ``python -m build`` makes a wheel and an sdist, the wheel
holds the package data, and installed into a fresh virtual environment it runs.

The build runs on a copy of the sources (so no build/ or egg-info lands in the work tree) with
``--no-isolation``: the build backend is the one installed (setuptools), and nothing is fetched.
The fresh venv sees the system site-packages and, through a .pth file, the test's own
environment (where torch and the other dependencies already are), and pip installs the wheel
with torch pinned by the CPU constraint, so torch is never pulled.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import genimg

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src" / "genimg"
DATA_SUFFIXES = (".css", ".yaml", ".html", ".js")  # read with importlib.resources at run time
PRETRAINED = SOURCE / "pretrained"  # the shipped models: index.json and one folder per model

pytestmark = pytest.mark.slow  # about 25 s: a build, a venv, an install, a one-epoch train, a pretrained sample


def run(command: list[str], cwd: Path, timeout: int = 180, env: dict | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def constraint_file(tmp_path: Path) -> Path:
    """The CPU torch constraint the Makefile wrote; the same pin, from the running torch, without one."""
    made = REPO / ".venv" / "torch-constraint.txt"
    if made.exists():
        return made
    import torch

    path = tmp_path / "torch-constraint.txt"
    path.write_text(f"torch=={torch.__version__.split('+')[0]}\n")
    return path


def fresh_venv(path: Path) -> Path:
    """A new venv over the base interpreter, seeing the system site-packages and this environment's."""
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", "--without-pip", "--system-site-packages", str(path)], cwd=path.parent)
    python = path / "bin" / "python"
    inner = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=path.parent)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # After the venv's own site-packages: the wheel installed there wins over anything here.
    (Path(inner.strip()) / "_genimg_test_parent.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def test_wheel_and_sdist_build_hold_the_package_data_and_the_installed_wheel_runs(tmp_path):
    try:  # by its distribution: a build/ folder in the working directory would pass for the module
        importlib.metadata.version("build")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the build package (dev extra) is not installed")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)], cwd=tmp_path)

    version = genimg.__version__
    (wheel,) = dist.glob(f"genimg-{version}-py3-none-any.whl")
    (sdist,) = dist.glob(f"genimg-{version}.tar.gz")
    inside = set(zipfile.ZipFile(wheel).namelist())
    data = sorted(
        str(p.relative_to(SOURCE.parent))
        for p in SOURCE.rglob("*")
        if p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts
    )
    assert "genimg/experiments/report/report.css" in data and "genimg/models/vae/presets.yaml" in data
    assert not set(data) - inside, f"package data missing from the wheel: {sorted(set(data) - inside)}"
    models = json.loads((PRETRAINED / "index.json").read_text())["models"]
    assert "vae-digits" in models
    shipped = {"genimg/pretrained/index.json"} | {
        f"genimg/pretrained/{name}/{file}" for name, entry in models.items() for file in entry["files"]
    }
    classifiers = json.loads((PRETRAINED / "classifiers" / "index.json").read_text())["classifiers"]
    assert {"digits", "mnist-sample"} <= set(classifiers)
    shipped |= {"genimg/pretrained/classifiers/index.json"} | {
        f"genimg/pretrained/classifiers/{entry['file']}" for entry in classifiers.values()
    }
    assert not shipped - inside, f"pretrained files missing from the wheel: {sorted(shipped - inside)}"
    in_sdist = set(tarfile.open(sdist).getnames())
    assert f"genimg-{version}/src/genimg/experiments/report/report.css" in in_sdist
    assert f"genimg-{version}/src/genimg/pretrained/vae-digits/model.safetensors" in in_sdist

    python = fresh_venv(tmp_path / "venv")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    run(install + ["-c", str(constraint_file(tmp_path)), str(wheel)], cwd=tmp_path, timeout=300)
    work = tmp_path / "work"  # not the repository: nothing may come from src/ by accident
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    where = run([str(python), "-c", "import genimg; print(genimg.__file__)"], cwd=work, env=env)
    assert Path(where.strip()).is_relative_to(tmp_path / "venv"), where
    genimg_cli = str(tmp_path / "venv" / "bin" / "genimg")
    assert run([genimg_cli, "--version"], cwd=work, env=env).strip() == f"genimg {version}"
    assert "digits" in run([genimg_cli, "datasets"], cwd=work, env=env)
    overrides = ["epochs=1", "hidden=32", "latent_dim=2", "iw_samples=1", "likelihood_k=5", "data.limit=200"]
    overrides += ["progress=false", "threads=1", f"out={work}", "run_name=one"]
    run([genimg_cli, "train", "vae", *overrides], cwd=work, env=env)
    assert '"finished": true' in (work / "one" / "summary.json").read_text()
    run([genimg_cli, "report", str(work / "one")], cwd=work, env=env)  # report.css from the installed package
    assert "font-family" in (work / "one" / "report.html").read_text()

    # A shipped model, straight from the installed package: its copy goes into the cache.
    env["GENIMG_CACHE"] = str(work / "cache")
    assert "pretrained:vae-digits" in run([genimg_cli, "pretrained"], cwd=work, env=env)
    out = run(
        [genimg_cli, "sample", "pretrained:vae-digits", "--n", "4", "--out", str(work / "pre.png")], cwd=work, env=env
    )
    assert (work / "pre.png").exists() and "wrote 4 samples" in out
    assert list((work / "cache" / "pretrained").glob("*/vae-digits/checkpoints/best/*.safetensors"))

    # The shipped digits classifier, straight from the installed package: the default extractor, not trained.
    code = (
        "from genimg.evaluate.features import get_extractor; e = get_extractor('classifier', 'digits'); "
        "print(e.info['source'], e.extractor_id())"
    )
    assert run([str(python), "-c", code], cwd=work, env=env).split() == ["shipped", classifiers["digits"]["extractor"]]
