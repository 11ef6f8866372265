"""`genimg pretrained [NAME]`: the models shipped inside genimg, with their test figures and the
command that retrains each; any command that takes a run takes ``pretrained:NAME``."""

from __future__ import annotations

import argparse
from typing import Any

from genimg.io import dumps
from genimg.runs.pretrained import PREFIX, PretrainedModel, check_package, lookup, read_index
from genimg.runs.pretrained_copy import copy_dir

EPILOG = """examples:
  genimg pretrained                               the shipped models and their test figures
  genimg pretrained vae-digits                    one model: files, SHA-256s checked, figures, how to retrain it
  genimg sample pretrained:vae-digits             any command that takes a run takes pretrained:NAME
  genimg explore pretrained:vae-digits            writes into its copy in $GENIMG_CACHE (default ~/.cache/genimg)

Test figures: FID, IS and precision/recall of the shipped weights' samples against the test
split (`genimg evaluate`: test-split size x 5 seeds, the dataset's own classifier features),
FID's real-vs-real floor, and the likelihood bound in bits/dim where the family has one.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("name", nargs="?", help="one model: its files (checked), figures and retraining command")
    p.add_argument("--json", action="store_true", help="the index entries as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    if args.name:
        model = lookup(args.name.removeprefix(PREFIX))
        check_package(model)
        if args.json:
            print(dumps({model.name: model.entry}, indent=2, sort_keys=True))
        else:
            print(describe(model))
        return
    models = read_index()
    if args.json:
        print(dumps({name: m.entry for name, m in models.items()}, indent=2, sort_keys=True))
        return
    if not models:
        print("this installation of genimg ships no pretrained models")
        return
    table = [("run", "family", "dataset", "parameters", "size", "test figures")]
    for m in models.values():
        params = m.entry.get("parameters")
        size = f"{m.total_bytes / 1e6:.1f} MB"
        table.append((PREFIX + m.name, m.family, m.dataset, f"{params:,}" if params else "?", size, figures(m.test)))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for i, cells in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1])
        if i:
            print(f"    retrain: {list(models.values())[i - 1].command}")
    total = sum(m.total_bytes for m in models.values())
    print(f"{len(models)} models, {total / 1e6:.1f} MB in all; use one wherever a command takes a run, e.g.")
    print(f"  genimg sample {PREFIX}{next(iter(models))}")


def _mean(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("mean")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def figures(test: dict[str, Any]) -> str:
    """The headline test figures in one line: FID (its floor), IS, precision/recall, likelihood bound."""
    parts = []
    fid, floor = _mean(test.get("fid")), _mean(test.get("fid_floor"))
    if fid is not None:
        parts.append(f"FID {fid:.2f}" + (f" (floor {floor:.2f})" if floor is not None else ""))
    if _mean(test.get("is")) is not None:
        parts.append(f"IS {_mean(test['is']):.2f}")
    precision, recall = _mean(test.get("precision")), _mean(test.get("recall"))
    if precision is not None and recall is not None:
        parts.append(f"P/R {precision:.2f}/{recall:.2f}")
    bpd = test.get("nll_bpd") or {}
    if bpd:
        best = min(bpd, key=lambda name: bpd[name])
        relation = "~" if "estimate" in best else "<="  # a strided estimate of the bound is not itself a bound
        parts.append(f"NLL {relation} {bpd[best]:.3f} bits/dim ({best})")
    return ", ".join(parts) or "-"


def describe(model: PretrainedModel) -> str:
    entry = model.entry
    kept = entry.get("kept") or {}
    params = entry.get("parameters")
    lines = [
        f"{PREFIX}{model.name}: {model.family} on {model.dataset}, {f'{params:,}' if params else '?'} parameters, "
        f"{'EMA' if model.weights == 'ema' else 'raw'} weights of epoch {kept.get('epoch', '?')} "
        f"(of {kept.get('epochs_trained', '?')} trained)",
        f"  test:     {figures(model.test)}",
        f"  retrain:  {model.command}",
    ]
    prefix = entry.get("prefix") or {}
    if prefix:
        lines.append(
            f"  prefix:   the same with epochs={prefix.get('epochs')} -> weights SHA-256 {prefix.get('sha256')}"
        )
    made = entry.get("made_with") or {}
    if made:
        lines.append("  made with " + ", ".join(f"{k} {v}" for k, v in sorted(made.items())))
    lines.append(f"  files (SHA-256 checked, {model.total_bytes / 1e6:.2f} MB):")
    for file, info in model.files.items():
        lines.append(f"    {file:22s} {info['bytes']:>9,} bytes  {info['sha256']}")
    lines.append(f"  copy used by commands: {copy_dir(model)}")
    return "\n".join(lines)
