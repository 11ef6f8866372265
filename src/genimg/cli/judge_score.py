"""`genimg judge-score RUN [RUN ...]`: the fooling rate of each run's model in the studio's
real-vs-generated trials, with its 95% Wilson interval (and, for time-limited rounds, the
staircase threshold); ``--export jsonl|csv`` writes the answers out of the store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from genimg.errors import UserError
from genimg.evaluate.judgements import (
    EXPORT_FORMATS,
    INTERVAL,
    STORE_FILE,
    ExportFormat,
    JudgementStore,
    export_text,
    judge_score,
    judgements_dir,
)
from genimg.io import write_text
from genimg.runs.directory import RunDir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "The fooling rate is the share of answered trials in which the generated image was picked as real "
        f"(50%: people cannot tell; 0%: they always can). Judgements come from the judge page of "
        f"`genimg studio RUN`, kept in RUN/judgements/{STORE_FILE} (JSONL files there are imported once)."
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument(
        "--export",
        choices=EXPORT_FORMATS,
        help="also write every answer to RUN/judgements/judgements.jsonl or .csv",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    paths = {path: RunDir.open(path).path for path in args.runs}
    scores = {path: judge_score(run_path) for path, run_path in paths.items()}
    if all(s is None for s in scores.values()):
        raise UserError(
            f"no judgements in {', '.join(args.runs)} (RUN/judgements/); "
            "collect some on the judge page of `genimg studio RUN`"
        )
    exported = (
        [export(run_path, args.export) for path, run_path in paths.items() if scores[path]] if args.export else []
    )
    if args.json:
        print(json.dumps(scores, indent=2, sort_keys=True))
    else:
        print_table(scores)
    for path in exported:
        print(f"wrote {path}")


def export(run_path: Path, kind: ExportFormat) -> Path:
    """Every answer of the run's store, written beside it (atomically) as ``judgements.<kind>``."""
    target = judgements_dir(run_path) / f"judgements.{kind}"
    with JudgementStore.open(run_path) as store:
        write_text(target, export_text(store.records(), kind))
        if kind == "jsonl":
            store.mark_imported(target)  # it holds the store's own rows: nothing to import from it
    return target


def print_table(scores: dict[str, dict[str, Any] | None]) -> None:
    header = ("trials", 6), ("fooled", 6), ("fooling rate", 12), ("95% CI", 15), ("judges", 6), ("timeouts", 8)
    print(f"{'run':40s} " + " ".join(f"{title:>{width}s}" for title, width in header) + "  threshold")
    for path, score in scores.items():
        if score is None:
            print(f"{path:40s} no judgements yet")
            continue
        threshold = (
            f"  {score['threshold_ms']:.0f} ms ({score['threshold_judges']} judges)" if score["threshold_ms"] else ""
        )
        if score["trials"] == 0:
            print(f"{path:40s} {0:6d} {0:6d} {'—':>12s} {'—':>15s} {0:6d} {score['timeouts']:8d}{threshold}")
            continue
        low, high = score["ci95"]
        interval = f"[{low:.1%}, {high:.1%}]"
        print(
            f"{path:40s} {score['trials']:6d} {score['fooled']:6d} {score['fooling_rate']:12.1%} {interval:>15s} "
            f"{score['judges']:6d} {score['timeouts']:8d}{threshold}"
        )
    print(f"fooling rate: generated picked as real / answered trials (50% = indistinguishable); CI: {INTERVAL}")
    if any(s and s["threshold_ms"] for s in scores.values()):
        print("threshold: the exposure each judge's staircase settled at, averaged over judges (HYPE_time)")
