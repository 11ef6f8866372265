"""`genimg judge-score RUN [RUN ...]`: the fooling rate of each run's model in the studio's
real-vs-generated trials, with its 95% Wilson interval."""

from __future__ import annotations

import argparse
import json

from genimg.errors import UserError
from genimg.evaluate.judgements import INTERVAL, judge_score
from genimg.runs.directory import RunDir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "The fooling rate is the share of answered trials in which the generated image was picked as real "
        "(50%: people cannot tell; 0%: they always can). Judgements come from the judge page of "
        "`genimg studio RUN`, in RUN/judgements/*.jsonl."
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    scores = {path: judge_score(RunDir.open(path).path) for path in args.runs}
    if all(s is None for s in scores.values()):
        raise UserError(
            f"no judgements in {', '.join(args.runs)} (RUN/judgements/*.jsonl); "
            "collect some on the judge page of `genimg studio RUN`"
        )
    if args.json:
        print(json.dumps(scores, indent=2, sort_keys=True))
        return
    header = ("trials", 6), ("fooled", 6), ("fooling rate", 12), ("95% CI", 15), ("judges", 6), ("timeouts", 8)
    print(f"{'run':40s} " + " ".join(f"{title:>{width}s}" for title, width in header))
    for path, score in scores.items():
        if score is None:
            print(f"{path:40s} no judgements yet")
            continue
        if score["trials"] == 0:
            print(f"{path:40s} {0:6d} {0:6d} {'—':>12s} {'—':>15s} {0:6d} {score['timeouts']:8d}")
            continue
        low, high = score["ci95"]
        interval = f"[{low:.1%}, {high:.1%}]"
        print(
            f"{path:40s} {score['trials']:6d} {score['fooled']:6d} {score['fooling_rate']:12.1%} {interval:>15s} "
            f"{score['judges']:6d} {score['timeouts']:8d}"
        )
    print(f"fooling rate: generated picked as real / answered trials (50% = indistinguishable); CI: {INTERVAL}")
