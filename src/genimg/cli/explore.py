"""`genimg explore RUN`: look inside a trained model, every view it serves, into RUN/explore/."""

from __future__ import annotations

import argparse

from genimg.tasks.explore import BETWEEN, METHODS, VIEWS, ExploreOptions, explore

EPILOG = """views:
  recon     test images beside their reconstructions, with per-image MSE and SSIM (VAE, diffusion)
  interp    linear and spherical interpolation between test images or prior draws (all families)
  manifold  a grid of decoded codes: prior quantiles for a 2-D latent, else principal directions (VAE; 2-D DCGAN)
  traverse  one latent coordinate per row, moved around a test image's code or a draw (VAE, DCGAN)
  scatter   the encoded test set coloured by label; PCA and t-SNE above 2-D (VAE, diffusion)

examples:
  genimg explore runs/vae-digits-...                     every view the model serves, into RUN/explore/
  genimg explore RUN --what interp --method slerp --steps 12
  genimg explore RUN --what manifold --n 20
  genimg explore RUN --what traverse --index 5 --steps 11
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("run", help="run directory")
    p.add_argument(
        "--what",
        nargs="+",
        choices=[*VIEWS, "all"],
        default=["all"],
        help="views to draw (default: all the model serves)",
    )
    p.add_argument(
        "--n",
        type=int,
        help="recon: images (16); interp: pairs (6); manifold: grid side (15); "
        "traverse: coordinates (up to 10); scatter: test images (all)",
    )
    p.add_argument("--steps", type=int, help="interp: points per path (10); traverse: offsets per coordinate (9)")
    p.add_argument("--method", choices=[*METHODS, "both"], default="both", help="interpolation path (default both)")
    p.add_argument(
        "--between",
        choices=BETWEEN,
        default="auto",
        help="interpolate between test images or prior draws (auto: images when the model has an encoder)",
    )
    p.add_argument("--seed", type=int, default=0, help="picks test images and prior draws")
    p.add_argument("--label", type=int, help="class-conditional models: the class to decode with")
    p.add_argument("--index", type=int, default=0, help="traverse: the test image whose code is traversed")
    p.add_argument(
        "--ddim-steps", type=int, default=50, help="diffusion: steps of the DDIM encoder/decoder (default 50)"
    )
    p.add_argument("--out", help="output directory (default RUN/explore)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    options = ExploreOptions(
        n=args.n,
        steps=args.steps,
        method=args.method,
        seed=args.seed,
        label=args.label,
        index=args.index,
        between=args.between,
        ddim_steps=args.ddim_steps,
    )
    explore(args.run, args.what, options, out=args.out, ema=not args.no_ema)
