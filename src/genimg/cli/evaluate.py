"""`genimg evaluate RUN`: score a run against the real-vs-real floor."""

from __future__ import annotations

import argparse

from genimg.config.run_config import PRECISIONS
from genimg.evaluate.evaluator import ALL_METRICS, evaluate_run


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--n", type=int, help="samples per seed (default: the test split's size)")
    p.add_argument("--features", default="classifier", help="feature extractor: classifier (default) or inception")
    p.add_argument(
        "--metrics", default=",".join(ALL_METRICS), help=f"comma-separated subset of {','.join(ALL_METRICS)}"
    )
    p.add_argument("--seed", type=int, default=0, help="first sampling seed")
    p.add_argument("--seeds", type=int, default=5, help="sampling seeds to average over (default 5)")
    p.add_argument("--floor-subsets", type=int, default=10, help="real-vs-real subsets for the floor (default 10)")
    p.add_argument("--k", type=int, default=1000, help="importance samples for the VAE's likelihood bound")
    p.add_argument(
        "--t-stride",
        type=int,
        default=1,
        help="diffusion likelihood: 1 = the bound (all T terms); S > 1 = an unbiased estimate from T/S terms",
    )
    p.add_argument("--sampler", choices=["ddpm", "ddim"], help="diffusion sampler")
    p.add_argument("--steps", type=int, help="diffusion sampling steps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=PRECISIONS, help="sampling precision (default: the run's train.precision)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    options = {k: getattr(args, k) for k in ("sampler", "steps") if getattr(args, k) is not None}
    evaluate_run(
        args.run,
        n=args.n,
        features=args.features,
        metrics=[m.strip() for m in args.metrics.split(",") if m.strip()],
        seed=args.seed,
        seeds=args.seeds,
        floor_subsets=args.floor_subsets,
        likelihood_k=args.k,
        t_stride=args.t_stride,
        device=args.device,
        sample_options=options,
        precision=args.precision,
    )
