"""`genimg recover RUN --task T`: original -> degraded -> recovered, by every method that applies."""

from __future__ import annotations

import argparse

from genimg.errors import UserError
from genimg.tasks.recover import EDIT_TASK, TASKS, SolverOptions, TaskSpec, run_edit, run_recovery

EPILOG = """examples:
  genimg recover RUN --task denoise --sigma 0.3
  genimg recover RUN --task inpaint --mask random --rate 0.5
  genimg recover RUN --task inpaint --mask box --method repaint --method biharmonic
  genimg recover RUN --task superres --factor 2
  genimg recover RUN --task deblur --blur-sigma 1.0
  genimg recover RUN --task colorize                       (RGB datasets)
  genimg recover RUN --task mri --acceleration 4           (k-space; --mask cartesian, radial or random)
  genimg recover RUN --task ct --views 8                   (sparse-view CT sinogram)
  genimg recover RUN --task edit --input strokes.png --strength 0.5   (diffusion)
methods: identity, bicubic, tv, nlm, biharmonic, richardson-lucy, zero-filled, fbp, sart, tv-cs
(classical); latent (vae, dcgan); dps, repaint, dc, sdedit (diffusion). Default: every method that
serves the task and the model.
"""
# The command-line options that are fields of SolverOptions (same names); unset ones keep its defaults.
SOLVER_OPTIONS = (
    "steps",
    "posterior_samples",
    "dps_scale",
    "consistency_rounds",
    "restarts",
    "latent_steps",
    "lam",
    "strength",
    "tv_weight",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("run", help="run directory")
    p.add_argument("--task", required=True, help=f"one of {', '.join(TASKS + (EDIT_TASK,))}")
    p.add_argument("--sigma", type=float, help="noise std in [0, 1] units (denoise: 0.3; other tasks: none)")
    p.add_argument(
        "--mask",
        help="inpaint: random (default), box, half, or a PNG of the image size (white keeps); "
        "mri: cartesian (default), radial, random",
    )
    p.add_argument("--rate", type=float, help="inpaint, random mask: fraction of pixels removed (default 0.5)")
    p.add_argument("--factor", type=int, help="superres: downsampling factor (default 2)")
    p.add_argument("--blur-sigma", type=float, help="deblur: Gaussian kernel std in pixels (default 1.0)")
    p.add_argument("--acceleration", type=float, help="mri: pixels per measured k-space sample (default 4)")
    p.add_argument("--views", type=int, help="ct: projection angles over 180 degrees (default 8)")
    p.add_argument(
        "--method", action="append", help="a method to run (repeatable or comma-separated; default all that apply)"
    )
    p.add_argument(
        "--n", type=int, help="images to recover from the split (default 64; edits for --task edit, default 8)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="test", help="dataset split to take images from (default test)")
    p.add_argument("--steps", type=int, help="diffusion methods: reverse-chain steps (dps 100, repaint 50, sdedit 100)")
    p.add_argument("--posterior-samples", type=int, help="diffusion methods: average this many samples (default 1)")
    p.add_argument(
        "--dps-scale", type=float, help="dps: step size of the measurement gradient (default 2, or 0.5 with noise)"
    )
    p.add_argument(
        "--consistency-rounds",
        type=int,
        help="dps, dc: final rounds of agreeing with the measurement within [0, 1] (mri, ct: 300; others: 0)",
    )
    p.add_argument(
        "--tv-weight", type=float, help="tv, tv-cs: total-variation weight (tv: sigma / 3; tv-cs: 0.0003 + 0.1 sigma)"
    )
    p.add_argument("--restarts", type=int, help="latent: random starts (default 4)")
    p.add_argument("--latent-steps", type=int, help="latent: Adam steps (default 300)")
    p.add_argument("--lam", type=float, help="latent: prior weight (default 0.001)")
    p.add_argument(
        "--strength", type=float, help="sdedit / edit: noise level as a fraction of the schedule (edit: 0.5)"
    )
    p.add_argument("--input", help="--task edit: the stroke painting or rough image (PNG)")
    p.add_argument("--out", help="output directory (default RUN/recover/TASK)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    if args.task == EDIT_TASK:
        _edit(args)
        return
    if args.input:
        raise UserError("--input is for --task edit; the other tasks degrade images of the run's dataset themselves")
    options = SolverOptions(**{k: getattr(args, k) for k in SOLVER_OPTIONS if getattr(args, k) is not None})
    methods = [m.strip() for item in (args.method or []) for m in item.split(",") if m.strip()]
    spec = TaskSpec(
        args.task, args.sigma, args.mask, args.rate, args.factor, args.blur_sigma, args.acceleration, args.views
    )
    result, out_dir = run_recovery(
        args.run,
        spec,
        methods or None,
        n=64 if args.n is None else args.n,
        seed=args.seed,
        split=args.split,
        options=options,
        out=args.out,
        ema=not args.no_ema,
        progress=lambda name: print(f"  {name} ...", flush=True),
    )
    print(f"{spec.task}: {result.task.to_dict()}, {result.originals.shape[0]} images")
    print(result.format_table())
    print(f"wrote {out_dir / 'figure.png'}, metrics.json, metrics.csv")


def _edit(args: argparse.Namespace) -> None:
    if not args.input:
        raise UserError("--task edit needs --input PNG (a stroke painting or rough image to turn into a realistic one)")
    _, out_dir = run_edit(
        args.run,
        args.input,
        strength=0.5 if args.strength is None else args.strength,
        n=8 if args.n is None else args.n,
        seed=args.seed,
        steps=args.steps,
        out=args.out,
        ema=not args.no_ema,
    )
    print(f"wrote {out_dir / 'figure.png'}")
