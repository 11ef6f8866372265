"""`genimg report DIR ...`: one self-contained HTML report comparing sweeps or runs."""

from __future__ import annotations

import argparse

from genimg.experiments.report import build_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="DIR", help="sweep directories and/or run directories")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="report path (default DIR/report.html for one directory, ./report.html for several)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    out = build_report(args.paths, args.out)
    print(f"wrote {out} and {out.with_suffix('.csv')}")
