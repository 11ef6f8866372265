"""`genimg studio RUN [RUN ...]`: the local web app over run directories (explore, draw, judge)."""

from __future__ import annotations

import argparse

from genimg.errors import UserError

EPILOG = """pages (each offered per model by what it can do):
  explore   the encoded test set on a 2-D map, decoded live under the pointer; interpolation
            strips between two test images; per-coordinate sliders; DDIM latent of a diffusion model
  draw      a canvas at the data's resolution: reconstruct, stroke -> image (SDEdit), inpaint
  judge     blind real-vs-generated trials, recorded in RUN/judgements/ (score: genimg judge-score RUN)
  results   the teacher's live view of a round: fooling rates, intervals, each judge's progress, CSV

examples:
  genimg studio runs/vae-digits-... runs/diffusion-digits-...
  genimg studio RUN --port 9000
  genimg studio RUN --host 0.0.0.0 --trials 40 --time-limit 3    a class judges; prints an access token
  genimg studio RUN --exposure-ms staircase     HYPE_time: each judge's exposure threshold per run
"""


def exposure(text: str) -> int | str:
    """--exposure-ms: a number of milliseconds, or 'staircase'."""
    if text == "staircase":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds or 'staircase', got '{text}'") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (fixed for the server's lifetime)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 serves the network with a token)",
    )
    p.add_argument("--seed", type=int, default=0, help="draws the judge page's trials (default 0)")
    p.add_argument("--trials", type=int, default=50, help="trials in a judge's round (default 50)")
    p.add_argument("--time-limit", type=float, help="seconds per judge trial (default: no limit)")
    p.add_argument(
        "--exposure-ms",
        type=exposure,
        metavar="MS|staircase",
        help="show each pair for MS milliseconds, or for a time a staircase per judge adapts "
        "(HYPE's time-limited mode; default: until answered)",
    )
    p.add_argument("--threads", type=int, help="torch threads for the models (default: torch's choice)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    # Deferred: FastAPI and uvicorn are the optional extra genimg[studio]; without them this verb
    # still parses its arguments and says how to install them instead of failing on import.
    try:
        from genimg.studio import StudioOptions, serve
    except ImportError as e:
        raise UserError(f"genimg studio needs FastAPI and uvicorn ({e}); pip install 'genimg[studio]'") from None
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be at least 1, got {args.threads}")
        import torch  # deferred with the studio itself: --help never loads torch

        torch.set_num_threads(args.threads)
    options = StudioOptions(
        host=args.host,
        port=args.port,
        seed=args.seed,
        trials=args.trials,
        time_limit_s=args.time_limit,
        exposure_ms=args.exposure_ms,
        ema=not args.no_ema,
    )
    serve(args.runs, options)
