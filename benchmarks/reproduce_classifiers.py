"""Retrain the dataset classifiers shipped inside genimg and compare hashes; ship a new one.

    python benchmarks/reproduce_classifiers.py check [NAME ...]
    python benchmarks/reproduce_classifiers.py ship NAME [--from CACHE_ENTRY]

NAME is a built-in dataset (digits, mnist-sample; mnist, fashion-mnist, cifar10 once downloaded).
The classifier behind FID, KID, IS and precision/recall is the dataset's default
``ClassifierConfig`` (seeded, one thread, on the CPU); ``evaluate/classifier/shipped.py`` says
why it is shipped and how it is used.

``check`` retrains each shipped classifier (default: every one in the index) with the config its
record holds, writes its weights as the classifier cache does, and compares their SHA-256 with
the shipped file. One line per classifier, with the extractor id and test accuracy against the
shipped ones; exit code 1 on any mismatch. Bit-exactness is promised only on the CPU instruction
set and torch version in the entry's ``made_with``: on another CPU (AVX2 against AVX-512) the
weights may round differently, the line says so, and the shipped file stays everyone's extractor.

``ship`` trains the dataset's default classifier (or takes ``--from CACHE_ENTRY``, a classifier
cache folder, ``<GENIMG_CACHE>/classifiers/NAME-<hash>/``, trained with that default config) and
writes ``src/genimg/pretrained/classifiers/NAME.safetensors`` and NAME's entry in its
``index.json``: the weights' SHA-256, the extractor id, the test accuracy, the cache record and
the command that reproduces it. The weights are the cache entry's file byte for byte (float32).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from genimg.config.fields import build_dataclass
from genimg.data.registry import dataset_info
from genimg.errors import UserError
from genimg.evaluate.classifier import ClassifierConfig, train_classifier
from genimg.evaluate.classifier.cache import INFO_FILE, WEIGHTS_FILE, load_entry, save_entry
from reproduce_pretrained import environment  # the same record of torch, CPU capability and machine

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "src" / "genimg" / "pretrained" / "classifiers"
INDEX = FOLDER / "index.json"
SCRIPT = "python benchmarks/reproduce_classifiers.py"
# What pins the bits besides the recipe: the same kernels, hence the same rounding.
SAME_BITS = ("torch", "cpu_capability", "machine")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_index() -> dict[str, Any]:
    return json.loads(INDEX.read_text()) if INDEX.exists() else {"format": 1, "classifiers": {}}


def default_config(name: str) -> ClassifierConfig:
    """The config every machine asks for when it scores ``name`` (the dataset's defaults)."""
    if ":" in name:
        sys.exit(f"{name} is a user's dataset: only built-in datasets have a classifier to ship")
    try:
        dataset_info(name)
    except UserError as err:
        sys.exit(str(err))
    return ClassifierConfig(dataset=name)


def train_here(config: ClassifierConfig, work: Path) -> tuple[bytes, dict[str, Any], str]:
    """Train ``config`` into a cache entry under ``work`` as the cache does; its weights, record and extractor id."""
    net, _, info = train_classifier(config, device="cpu", progress=True)
    save_entry(work, net, info)
    return read_entry(work, config)


def read_entry(directory: Path, config: ClassifierConfig) -> tuple[bytes, dict[str, Any], str]:
    classifier = load_entry(directory, config)  # checks the weights' SHA-256 and that the config is this one
    return (
        (directory / WEIGHTS_FILE).read_bytes(),
        json.loads((directory / INFO_FILE).read_text()),
        classifier.extractor_id(),
    )


# ---------------------------------------------------------------------------- check


def check(names: list[str]) -> int:
    shipped = read_index()["classifiers"]
    unknown = [n for n in names if n not in shipped]
    if unknown:
        sys.exit(f"not shipped: {', '.join(unknown)}; shipped: {', '.join(shipped) or 'none'}")
    here, failures = environment(), 0
    print(
        "retraining each shipped classifier here and comparing its weights with the shipped file byte for byte; "
        f"a match is promised only on the CPU instruction set and torch it was made with (here: "
        f"{here['cpu_capability']}, torch {here['torch']}, {here['machine']})",
        flush=True,
    )
    for name in names or list(shipped):
        entry = shipped[name]
        config = build_dataclass(ClassifierConfig, entry["record"]["config"], "classifier")
        if config.hash() != entry["record"]["config_hash"]:
            sys.exit(f"{name}: the recorded config no longer hashes to its config_hash (the config fields changed)")
        start = time.process_time()
        with tempfile.TemporaryDirectory() as work:
            weights, info, extractor = train_here(config, Path(work))
        ok = sha256(weights) == entry["sha256"]
        failures += not ok
        made = entry.get("made_with", {})
        verdict = "ok, bit for bit" if ok else "DIFFERS"
        line = (
            f"{name:14s} {verdict}: extractor {extractor} (shipped {entry['extractor']}), "
            f"test accuracy {info['test_accuracy']:.4f} (shipped {entry['test_accuracy']:.4f}), "
            f"{time.process_time() - start:.0f} CPU-s"
        )
        if any(made.get(k) != here[k] for k in SAME_BITS):
            made_on = ", ".join(f"{k} {made.get(k)}" for k in SAME_BITS)
            line += (
                f"   [made with {made_on}; another CPU or torch may round differently: bit-exactness is not promised]"
            )
        print(line, flush=True)
    if failures:
        print(
            "the shipped files stay the extractor every machine uses; a DIFFERS line says only that this machine "
            "would train other weights"
        )
    return 1 if failures else 0


# ---------------------------------------------------------------------------- ship


def ship(name: str, source: Path | None) -> None:
    config = default_config(name)
    with tempfile.TemporaryDirectory() as work:
        if source is None:
            print(f"training the {name} classifier (its default config, one thread, CPU)", flush=True)
            weights, info, extractor = train_here(config, Path(work))
        else:
            try:
                weights, info, extractor = read_entry(source, config)
            except UserError as err:
                sys.exit(f"{source} is not a cache entry of the default {name} classifier: {err}")
    file = f"{name}.safetensors"
    record = {k: v for k, v in info.items() if k not in ("weights_file", "weights_sha256")}
    entry = {
        "file": file,
        "sha256": sha256(weights),
        "bytes": len(weights),
        "extractor": extractor,
        "test_accuracy": info["test_accuracy"],
        "command": f"{SCRIPT} check {name}",
        "ship_command": f"{SCRIPT} ship {name}",
        "record": record,
        "made_with": environment(),
    }
    FOLDER.mkdir(parents=True, exist_ok=True)
    (FOLDER / file).write_bytes(weights)
    index = read_index()
    index["classifiers"][name] = entry
    index["classifiers"] = dict(sorted(index["classifiers"].items()))
    tmp = INDEX.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    tmp.replace(INDEX)
    print(f"shipped {name}: {extractor}, test accuracy {info['test_accuracy']:.4f}, {len(weights) / 1e6:.2f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    c = sub.add_parser("check", help="retrain shipped classifiers and compare hashes")
    c.add_argument("names", nargs="*", help="datasets to check (default: every shipped classifier)")
    s = sub.add_parser("ship", help="train (or take) a dataset's default classifier and add it to the package")
    s.add_argument("name", help="a built-in dataset: digits, mnist-sample, mnist, fashion-mnist, cifar10")
    s.add_argument("--from", dest="source", type=Path, help="a classifier cache entry trained with the default config")
    args = parser.parse_args()
    if args.action == "check":
        return check(args.names)
    ship(args.name, args.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
