"""`genimg sweep FAMILY key=v1,v2 ...`: train variants of a config and compare them in one report;
and `genimg report DIR ...`, that report for any sweeps or runs (``add_report_arguments``)."""

from __future__ import annotations

import argparse
import sys

from genimg.errors import UserError
from genimg.experiments.report import build_report
from genimg.experiments.sweep import (
    define_sweep,
    evaluation_settings,
    is_sweep_dir,
    parse_parameters,
    resume_sweep,
    run_sweep,
    threads_per_worker,
)
from genimg.models.diffusion.config import SAMPLERS

EPILOG = """examples:
  genimg sweep vae latent_dim=2,16,32 beta=0.5,1,4 hidden=128,256,512 --out runs/hw-vae
        one-at-a-time (default): a base run plus each parameter varied alone -> 7 runs
  genimg sweep vae latent_dim=2,16 beta=0.5,4 --grid --seeds 3 --parallel 2
        every combination, 3 seeds each (mean ± std in the report) -> 12 runs
  genimg sweep dcgan latent_dim=16,64 --set epochs=50 --set fid_every=5
  genimg sweep diffusion channels=32,64 --set dataset=mnist-sample --eval-sampler ddim --eval-steps 50 \\
        --eval-t-stride 10     a diffusion sweep at 28x28, scored in minutes per run, not hours
  genimg sweep --resume runs/hw-vae          continue an interrupted sweep

The base value of a parameter is its value in the base config (defaults plus --set) when
that value is listed, otherwise the first listed value. A key given one value is a base
override, like --set. Every run is evaluated with the same settings (--eval-n, --eval-seeds,
--eval-seed, --eval-k, --features) and the sweep ends with SWEEP/report.html.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("family", nargs="?", help="model family: vae, dcgan or diffusion (omit with --resume)")
    p.add_argument("parameters", nargs="*", metavar="key=v1,v2,...", help="swept parameters and their values")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--one-at-a-time",
        dest="mode",
        action="store_const",
        const="one-at-a-time",
        help="vary each parameter alone around the base run (default)",
    )
    mode.add_argument("--grid", dest="mode", action="store_const", const="grid", help="every combination of the values")
    p.add_argument("--seeds", type=int, default=1, metavar="K", help="repeat every variant with K seeds (default 1)")
    p.add_argument(
        "--parallel", type=int, default=1, metavar="N", help="runs at once, each with cores/N threads (default 1)"
    )
    p.add_argument("--out", metavar="DIR", help="sweep directory (default runs/sweep-FAMILY-TIME)")
    p.add_argument(
        "--set",
        dest="base",
        action="append",
        default=[],
        metavar="key=value",
        help="base config override shared by every run (repeatable), e.g. --set epochs=30",
    )
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted sweep directory")
    p.add_argument(
        "--eval-n", type=int, metavar="N", help="samples per evaluation seed (default: the test split's size)"
    )
    p.add_argument(
        "--eval-seeds",
        type=int,
        metavar="K",
        help="sampling seeds each score is averaged over (default: the evaluator's, 5)",
    )
    p.add_argument("--eval-seed", type=int, metavar="S", help="first evaluation sampling seed (default 0)")
    p.add_argument(
        "--eval-k",
        type=int,
        metavar="K",
        help="importance samples for likelihood bounds (default: the evaluator's, 1000)",
    )
    p.add_argument("--eval-sampler", choices=SAMPLERS, help="diffusion: the sampler scored (default: ddpm)")
    p.add_argument("--eval-steps", type=int, metavar="S", help="diffusion: sampling steps (e.g. 50 with ddim)")
    p.add_argument(
        "--eval-t-stride",
        type=int,
        metavar="S",
        help="diffusion: estimate the bound from T/S terms (default 1: the bound itself, slow at 28x28)",
    )
    p.add_argument(
        "--features", metavar="KIND", help="feature extractor for the scores: classifier (default) or inception"
    )
    p.add_argument("--no-eval", action="store_true", help="train only; the report shows training numbers")
    p.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    p.set_defaults(handler=run, mode=None)


def run(args: argparse.Namespace) -> None:
    if args.resume:
        if args.family or args.parameters or args.base or args.mode or args.out:
            raise UserError("--resume DIR continues a sweep as it was defined; give only --parallel with it")
        resume_sweep(args.resume, parallel=args.parallel, report=not args.no_report)
        return
    if not args.family:
        raise UserError("name a model family and parameters, e.g. genimg sweep vae latent_dim=2,16,32; or --resume DIR")
    if "=" in args.family:
        raise UserError(f"the first argument is the model family (vae, dcgan, diffusion), got '{args.family}'")
    if args.out and is_sweep_dir(args.out):
        raise UserError(
            f"{args.out} already holds a sweep; continue it with `genimg sweep --resume {args.out}` "
            "or pick another --out"
        )
    evaluation = (
        None
        if args.no_eval
        else evaluation_settings(
            args.eval_n,
            args.features,
            args.eval_seed,
            args.eval_seeds,
            args.eval_k,
            sampler=args.eval_sampler,
            steps=args.eval_steps,
            t_stride=args.eval_t_stride,
        )
    )
    sweep = define_sweep(
        args.family,
        parse_parameters(args.parameters),
        mode=args.mode or "one-at-a-time",
        seeds=args.seeds,
        base=list(args.base),
        evaluation=evaluation,
        out=args.out,
    )
    threads_per_worker(args.parallel)  # a bad --parallel fails before anything is written
    if not args.parameters:
        print("no swept parameters: the sweep is the base run alone", file=sys.stderr)
    run_sweep(sweep, parallel=args.parallel, report=not args.no_report)


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="DIR", help="sweep directories and/or run directories")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="report path (default DIR/report.html for one directory, ./report.html for several)",
    )
    p.set_defaults(handler=write_report)


def write_report(args: argparse.Namespace) -> None:
    """`genimg report DIR ...`: one self-contained HTML report comparing sweeps or runs."""
    out = build_report(args.paths, args.out)
    print(f"wrote {out} and {out.with_suffix('.csv')}")
