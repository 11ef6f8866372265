"""`genimg runs [DIR]`: the run directories under DIR with their status, epochs, kept checkpoint
and headline numbers, and what to do with the ones a crash or Ctrl-C left."""

from __future__ import annotations

import argparse

from genimg.io import dumps
from genimg.runs.listing import describe_run, find_runs
from genimg.runs.pretrained_copy import resolve_run_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default="runs", help="folder holding run directories (default: runs)")
    p.add_argument("--json", action="store_true", help="one JSON object per run, one a line")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    root = resolve_run_path(args.dir)  # pretrained:NAME lists that shipped model's copy
    rows = [describe_run(path) for path in find_runs(root)]
    if args.json:
        for row in rows:
            print(dumps(row.to_dict()))
        return
    if not rows:
        print(f"no run directories under {root}")
        return
    table = [("run", "family", "dataset", "status", "epochs", "kept", "numbers")]
    for row in rows:
        name = str(row.path.relative_to(root)) if row.path != root else str(row.path)
        epochs = f"{row.epochs if row.epochs is not None else '?'}/{row.total_epochs or '?'}"
        numbers = "  ".join(f"{k} {v:.4g}" for k, v in row.metrics.items())
        table.append((name, row.family, row.dataset, row.status, epochs, row.kept, numbers))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for i, cells in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1])
        note = rows[i - 1].note if i else ""
        if note:
            print(f"    {note}")
