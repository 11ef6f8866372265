"""`genimg evaluate RUN`: score a run against the real-vs-real floor."""

from __future__ import annotations

import argparse

from genimg.config.run_config import PRECISIONS
from genimg.evaluate.evaluator import evaluate_run
from genimg.evaluate.options import ALL_METRICS, EvaluationOptions
from genimg.models.diffusion.config import SAMPLERS


def add_arguments(p: argparse.ArgumentParser) -> None:
    default = EvaluationOptions  # the defaults live there, once
    p.add_argument("run", help="run directory")
    p.add_argument("--n", type=int, help="samples per seed (default: the test split's size)")
    p.add_argument(
        "--features",
        default=default.features,
        help=f"feature extractor: classifier or inception (default {default.features})",
    )
    p.add_argument(
        "--metrics", default=",".join(ALL_METRICS), help=f"comma-separated subset of {','.join(ALL_METRICS)}"
    )
    p.add_argument("--seed", type=int, default=default.seed, help=f"first sampling seed (default {default.seed})")
    p.add_argument(
        "--seeds", type=int, default=default.seeds, help=f"sampling seeds to average over (default {default.seeds})"
    )
    p.add_argument(
        "--floor-subsets",
        type=int,
        default=default.floor_subsets,
        help=f"real-vs-real subsets for the floor (default {default.floor_subsets})",
    )
    p.add_argument(
        "--k",
        type=int,
        default=default.likelihood_k,
        help=f"importance samples for the VAE's likelihood bound (default {default.likelihood_k})",
    )
    p.add_argument(
        "--t-stride",
        type=int,
        default=default.t_stride,
        help="diffusion likelihood: 1 = the bound (all T terms); S > 1 = an unbiased estimate from T/S terms",
    )
    p.add_argument("--sampler", choices=SAMPLERS, help="diffusion sampler")
    p.add_argument("--steps", type=int, help="diffusion sampling steps")
    p.add_argument("--device", default=default.device)
    p.add_argument("--precision", choices=PRECISIONS, help="sampling precision (default: the run's train.precision)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    sampling = {k: getattr(args, k) for k in ("sampler", "steps") if getattr(args, k) is not None}
    options = EvaluationOptions(
        n=args.n,
        features=args.features,
        metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()),
        seed=args.seed,
        seeds=args.seeds,
        floor_subsets=args.floor_subsets,
        likelihood_k=args.k,
        t_stride=args.t_stride,
        sample_options=sampling,
        precision=args.precision,
        device=args.device,
    )
    evaluate_run(args.run, options)
