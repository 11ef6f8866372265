"""Retrain the pretrained models shipped inside genimg and compare hashes; ship a new one.

    python benchmarks/reproduce_pretrained.py check [NAME ...] [--prefix-only] [--keep DIR]
    python benchmarks/reproduce_pretrained.py ship NAME [--from RUN]

``check`` retrains each shipped model (default: all in the index) with the command its index
entry records -- ``genimg train FAMILY threads=1 device=cpu ...``, the full recipe, on the CPU,
one thread -- into a temporary directory, and compares the SHA-256 of the weights it keeps with
the shipped ``model.safetensors``. Before that it runs the same recipe stopped after the first
``prefix.epochs`` epochs and compares the SHA-256 of its last checkpoint's weights with the
prefix hash in the index (what tests/test_pretrained_reproduce.py checks in CI). One line per
model; exit code 1 on any mismatch. Bit-exactness is promised on the CPU instruction set and
torch version in the entry's ``made_with``; elsewhere floating point may round differently, and
the line says so.

``ship`` adds or replaces a model: it trains ``RECIPES[NAME]`` with its command (or takes
``--from RUN``, a finished run trained with exactly that recipe), scores it with
``genimg evaluate`` (the test figures), measures the prefix hash, and writes
``src/genimg/pretrained/NAME/`` and NAME's entry in ``index.json``. Adding a model is therefore
a row in ``RECIPES`` and one ``ship NAME``. The weights are shipped as trained (float32): the
shipped file is the run's kept checkpoint byte for byte, so ``check`` compares it directly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import genimg
from genimg.config.run_config import config_for, load_config
from genimg.runs.checkpoint import read_checked

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "genimg" / "pretrained"
INDEX = PACKAGE / "index.json"

# name -> (family, overrides): the recipe of each shipped model, the family's preset for the dataset
# with these overrides. When a preset changes, a shipped model keeps the recipe it was trained
# with: write out here the overrides that turn the new preset back into it, so `check` still
# reproduces it bit for bit; or retrain it with the new preset by `ship`.
RECIPES: dict[str, tuple[str, list[str]]] = {
    "vae-digits": ("vae", []),
    "dcgan-digits": ("dcgan", []),
    "diffusion-digits": ("diffusion", []),
    "vae-mnist-sample": ("vae", ["dataset=mnist-sample"]),
    # 200 of the preset's 500 epochs: 10 CPU-min, where the preset's curve has flattened (FID/floor
    # 1.33 at 5 CPU-min, 1.23 at 10; BENCHMARKS.md, "Quality per CPU-minute")
    "dcgan-mnist-sample": ("dcgan", ["dataset=mnist-sample", "epochs=200"]),
    "diffusion-mnist-sample": ("diffusion", ["dataset=mnist-sample"]),
}
# Bit-exact training needs a fixed thread count (reductions split differently across threads)
# and a fixed device; `precision=auto` is fp32 at 8x8 (bf16 only from 16x16 at one thread).
COMMON = ["threads=1", "device=cpu"]
# The prefix: the same recipe stopped after PREFIX_EPOCHS epochs. To stay quick (seconds, for
# the test suite) it also skips what is only measured or drawn: FID and sample grids during
# training, the likelihood at the end, and the end-of-run grid drawn with 10 DDIM steps, not
# 1000 DDPM steps. None of these touches the training stream (each runs under its own fixed
# seed), and `ship` proves it for every model: it refuses one whose quick prefix's weights differ
# from the plain prefix's (the recipe with only epochs=PREFIX_EPOCHS).
PREFIX_EPOCHS = 2
QUICK = ["likelihood_at_end=false", "fid_every=0", "select_by=last", "sample_every=0"]
QUICK_SAMPLING = {"diffusion": ["sampler=ddim", "sample_steps=10"]}
# Settings that change where and how verbosely a run is written, not what it learns.
RUN_ONLY = {("train", "out"), ("train", "run_name"), ("train", "progress"), ("train", "logger")}
RECORD_FILES = ("config.yaml", "spec.json", "summary.json", "metrics.jsonl", "samples.png", "reconstructions.png")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def environment() -> dict[str, str]:
    """What bit-exact reproduction depends on besides the recipe."""
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "genimg": genimg.__version__,
    }


def train_command(family: str, overrides: list[str], out: Path | str, name: str, extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-m", "genimg", "train", family, *overrides, f"out={out}", f"run_name={name}", *extra]


def run_genimg(command: list[str]) -> None:
    """Run a genimg command from the repository root (where the recorded commands run)."""
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def kept_weights(run: Path) -> tuple[bytes, str, dict[str, Any]]:
    """The weights a finished run keeps (its EMA copy where it has one), checked against the
    checkpoint's manifest; "ema" or "raw"; and the run's summary."""
    summary = json.loads((run / "summary.json").read_text())
    if summary.get("status") != "finished":
        sys.exit(f"{run} has not finished (status {summary.get('status')!r}); finish it first")
    checkpoint = run / "checkpoints" / summary.get("kept_checkpoint", "best")
    if (checkpoint / "ema.safetensors").exists():
        return read_checked(checkpoint / "ema.safetensors"), "ema", summary
    return read_checked(checkpoint / "model.safetensors"), "raw", summary


def prefix_hash(family: str, overrides: list[str], work: Path) -> str:
    """SHA-256 of the raw weights of the last checkpoint of the recipe ``overrides`` (which stop it early)."""
    run_genimg(train_command(family, overrides, work, "prefix", ["progress=false"]))
    return sha256(read_checked(work / "prefix" / "checkpoints" / "last" / "model.safetensors"))


def check_same_recipe(run: Path, family: str, overrides: list[str]) -> None:
    wanted, saved = config_for(family, overrides).to_dict(), load_config(run / "config.yaml").to_dict()
    differ = [
        f"{section}.{key}: {saved.get(section, {}).get(key)!r} (recipe: {value!r})"
        for section in ("data", "train", "model")
        for key, value in wanted[section].items()
        if (section, key) not in RUN_ONLY and saved.get(section, {}).get(key) != value
    ]
    if saved.get("family") != family or differ:
        sys.exit(f"{run} was not trained with the recipe `{' '.join(overrides)}`: " + "; ".join(differ))


# ---------------------------------------------------------------------------- check


def check(names: list[str], prefix_only: bool, keep: Path | None) -> int:
    index = json.loads(INDEX.read_text())["models"]
    unknown = [n for n in names if n not in index]
    if unknown:
        sys.exit(f"not shipped: {', '.join(unknown)}; shipped: {', '.join(index)}")
    here, failures = environment(), 0
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    for name in names or list(index):
        entry = index[name]
        work = Path(tempfile.mkdtemp(prefix=f"reproduce-{name}-", dir=keep))
        made = entry.get("made_with", {})
        same = all(made.get(k) == here[k] for k in ("torch", "cpu_capability", "machine"))
        prefix = entry["prefix"]
        start = time.perf_counter()
        got = prefix_hash(entry["family"], entry["overrides"] + prefix["overrides"], work)
        ok = got == prefix["sha256"]
        failures += not ok
        took = time.perf_counter() - start
        line = f"{name:20s} prefix ({prefix['epochs']} epochs) {'ok' if ok else 'DIFFERS'} ({took:.0f} s)"
        if not prefix_only:
            run_genimg(train_command(entry["family"], entry["overrides"], work, name, ["progress=false"]))
            weights, _, summary = kept_weights(work / name)
            ok = sha256(weights) == entry["files"]["model.safetensors"]["sha256"]
            failures += not ok
            line += f"   full recipe {'ok' if ok else 'DIFFERS'} ({summary.get('train_cpu_s', 0) / 60:.1f} CPU-min)"
        if not same:
            line += f"   [made with {made}, here {here}: bit-exactness is not promised]"
        print(line, flush=True)
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


# ---------------------------------------------------------------------------- ship


def ship(name: str, source: Path | None) -> None:
    if name not in RECIPES:
        sys.exit(f"no recipe named {name}; add a row to RECIPES in {Path(__file__).name}")
    family, recipe = RECIPES[name]
    overrides = [*recipe, *COMMON]
    command = " ".join(["genimg", "train", family, *overrides, "out=runs/pretrained", f"run_name={name}"])
    if source is None:
        source = REPO / "runs" / "pretrained" / name
        if source.exists():
            sys.exit(f"{source} exists: pass --from {source.relative_to(REPO)} to ship it, or remove it to retrain")
        print(f"training: {command}", flush=True)
        run_genimg(train_command(family, overrides, "runs/pretrained", name, ["progress=false"]))
    check_same_recipe(source, family, overrides)
    weights, kind, summary = kept_weights(source)
    evaluation = source / "eval" / "metrics.json"
    checkpoint = source / "checkpoints" / summary.get("kept_checkpoint", "best") / "manifest.json"
    if not evaluation.exists() or evaluation.stat().st_mtime < checkpoint.stat().st_mtime:
        print(f"evaluating: genimg evaluate {source}", flush=True)
        run_genimg([sys.executable, "-m", "genimg", "evaluate", str(source)])
    quick = [f"epochs={PREFIX_EPOCHS}", *QUICK, *QUICK_SAMPLING.get(family, [])]
    with tempfile.TemporaryDirectory() as work:
        print(f"prefix: the recipe with {' '.join(quick)}, and with epochs={PREFIX_EPOCHS} alone", flush=True)
        prefix = prefix_hash(family, [*overrides, *quick], Path(work) / "quick")
        plain = prefix_hash(family, [*overrides, f"epochs={PREFIX_EPOCHS}"], Path(work) / "plain")
    if prefix != plain:
        sys.exit(f"the quick prefix ({' '.join(quick)}) trains other weights than epochs={PREFIX_EPOCHS} alone")
    files = {"model.safetensors": weights, "evaluation.json": evaluation.read_bytes()}
    files.update({f: (source / f).read_bytes() for f in RECORD_FILES if (source / f).exists()})
    entry = {
        "family": family,
        "dataset": summary["dataset"],
        "weights": kind,
        "parameters": summary.get("parameters"),
        "precision": summary.get("precision"),
        "kept": {
            "checkpoint": summary.get("kept_checkpoint"),
            "epoch": summary.get("best_epoch") or summary.get("epochs_trained"),
            "epochs_trained": summary.get("epochs_trained"),
        },
        "train_cpu_s": summary.get("train_cpu_s"),
        "command": command,
        "overrides": overrides,
        "evaluate_command": evaluate_command(json.loads(evaluation.read_text())),
        "test": test_figures(json.loads(evaluation.read_text()), summary),
        "prefix": {"epochs": PREFIX_EPOCHS, "overrides": quick, "sha256": prefix},
        "made_with": environment(),
        "files": {f: {"sha256": sha256(data), "bytes": len(data)} for f, data in sorted(files.items())},
    }
    folder = PACKAGE / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file, data in files.items():
        (folder / file).write_bytes(data)
    index = json.loads(INDEX.read_text()) if INDEX.exists() else {"format": 1, "models": {}}
    index["models"][name] = entry
    index["models"] = dict(sorted(index["models"].items()))
    tmp = INDEX.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    tmp.replace(INDEX)
    size = sum(len(d) for d in files.values()) / 1e6
    print(f"shipped {name}: {size:.2f} MB, weights {entry['files']['model.safetensors']['sha256']}")


def evaluate_command(evaluation: dict[str, Any]) -> str:
    """The `genimg evaluate` options that reproduce the shipped evaluation's scores."""
    sampling = evaluation.get("sampling") or {}
    options = [f"--{key} {value}" for key, value in sorted(sampling.items())]
    stride = (evaluation.get("likelihood") or {}).get("t_stride")
    if stride:
        options.append(f"--t-stride {stride}")
    return " ".join(["genimg evaluate RUN", *options])


def test_figures(evaluation: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The index's test figures: each score's mean and sd over the evaluation's seeds, FID's
    real-vs-real floor, the likelihood bounds in bits/dim, and the test loss."""
    scores = evaluation.get("scores", {})
    out: dict[str, Any] = {
        "n": evaluation.get("n"),
        "seeds": len(evaluation.get("seeds", [])),
        "extractor": evaluation.get("extractor"),
        **{k: {"mean": v["mean"], "std": v["std"]} for k, v in sorted(scores.items()) if isinstance(v, dict)},
    }
    if "floor" in evaluation:
        out["fid_floor"] = evaluation["floor"]["fid"]["mean"]
        out["fid_over_floor"] = evaluation.get("fid_over_floor")
    likelihood = evaluation.get("likelihood") or summary.get("likelihood") or {}
    bpd = {k[4:-4]: v for k, v in likelihood.items() if k.startswith("nll_") and k.endswith("_bpd")}
    if bpd:
        out["nll_bpd"] = bpd
    if isinstance(summary.get("test"), dict) and "loss" in summary["test"]:
        out["test_loss"] = summary["test"]["loss"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    c = sub.add_parser("check", help="retrain shipped models and compare hashes")
    c.add_argument("names", nargs="*", help="models to check (default: every shipped one)")
    c.add_argument("--prefix-only", action="store_true", help="only the short prefix of each recipe")
    c.add_argument("--keep", type=Path, help="keep the retrained runs under this directory")
    s = sub.add_parser("ship", help="train (or take) a recipe's run and add it to the package")
    s.add_argument("name", choices=sorted(RECIPES))
    s.add_argument("--from", dest="source", type=Path, help="a finished run trained with the recipe")
    args = parser.parse_args()
    if args.action == "check":
        return check(args.names, args.prefix_only, args.keep)
    ship(args.name, args.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
