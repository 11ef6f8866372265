"""`genimg outliers RUN`: how well the model's scores separate its test set from outlier sets."""

from __future__ import annotations

import argparse

from genimg.tasks.outliers import (
    BUILTIN_SETS,
    SCORES,
    OutlierOptions,
    detect_outliers,
    parse_set_names,
    valid_set_names,
)

EPILOG = (
    """examples:
  genimg outliers runs/vae-digits-...                          every built-in OOD set, every score the model has
  genimg outliers RUN --ood uniform,constant,natural --score nll,complexity
  genimg outliers RUN --ood heldout                            for a run trained with classes=[0,1,2,3,4,5,6,7,8]
  genimg outliers RUN --ood npz:other.npz --n 200 --seed 1
  genimg outliers RUN --score ratio --mu 0.2 --background epochs=100

OOD sets: """
    + ", ".join(f"{k} ({v})" for k, v in BUILTIN_SETS.items())
    + """; npz:PATH; folder:PATH; a dataset name.
Scores: """
    + "; ".join(f"{k}: {v}" for k, v in SCORES.items())
    + """.
Positive class = OOD, higher score = more OOD. Writes RUN/outliers/table.{json,csv,md}, hist_<score>.png, sets.png."""
)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 2,5,10, got '{text}'") from None
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("run", help="run directory")
    p.add_argument(
        "--ood", default="all", metavar="SET[,SET...]", help=f"OOD sets (default all built-in): {valid_set_names()}"
    )
    p.add_argument(
        "--score", metavar="SCORE[,SCORE...]", help=f"scores (default: all the model supports): {', '.join(SCORES)}"
    )
    p.add_argument(
        "--n",
        type=int,
        help="at most N images per set: test, val (typicality's reference), each OOD set (default: all test images)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=100, help="VAE: importance samples for the likelihood bound (default 100)")
    p.add_argument(
        "--t-stride",
        type=int,
        default=1,
        metavar="S",
        help="diffusion: 1 (default) = the exact bound, ~1.3 s CPU per 8x8 image; "
        "S > 1 = one random term per S timesteps (much noisier)",
    )
    p.add_argument(
        "--mu",
        type=float,
        default=0.15,
        help="ratio: fraction of pixels perturbed for the background model (default 0.15)",
    )
    p.add_argument(
        "--batch-sizes",
        type=_int_list,
        default=(2, 5, 10),
        metavar="M[,M...]",
        help="typicality: batch sizes (default 2,5,10)",
    )
    p.add_argument(
        "--background",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ratio: config override for the background model (repeatable)",
    )
    p.add_argument("--out", help="output directory (default RUN/outliers)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    options = OutlierOptions(
        ood=parse_set_names(args.ood),
        scores=args.score,
        n=args.n,
        seed=args.seed,
        k=args.k,
        t_stride=args.t_stride,
        mu=args.mu,
        batch_sizes=args.batch_sizes,
        background=args.background,
        progress=not args.no_progress,
    )
    detect_outliers(args.run, options, out=args.out, ema=not args.no_ema)
