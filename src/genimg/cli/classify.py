"""`genimg classify RUN`: classify images by Bayes' rule with a class-conditional model's likelihood."""

from __future__ import annotations

import argparse

from genimg.tasks.classify import ClassifyOptions, classify_run

EPILOG = """examples:
  genimg classify runs/vae-digits-...                      the test split, every pixel seen
  genimg classify RUN --missing 0.5 --baseline             half the pixels missing at random; the dataset classifier too
  genimg classify RUN --missing box                        a centre square missing (4x4 of an 8x8 digit)
  genimg classify RUN --missing half --k 1000              the left half missing, a tighter bound
  genimg classify DIFFUSION_RUN --n 50 --t-stride 10       a diffusion model: its bound is costly, see below

Scores each class y with the family's bound on log p(x | y) plus log p(y) (the training labels'
frequencies) and predicts the argmax; reports accuracy, the confusion matrix and calibration (ECE,
reliability diagram) of the posterior p(y | x). Needs a model trained with conditional=true.
Cost, per image and class: VAE, k decoder passes (~1.3 ms of CPU per 8x8 digit at k = 100);
diffusion, T / S network evaluations (~1.3 CPU-s per 8x8 digit at T = 1000, S = 1), so the 447
test digits take ~1.6 CPU-hours at S = 1.
Missing pixels: a VAE leaves them out of its likelihood exactly (a bound on log p(x_obs | y));
a diffusion model cannot, so they are imputed (--impute dps or repaint) and the completed image
is scored, a looser bound whose gap depends on the class.
Writes RUN/classify/<setting>/: summary.json, table.md, predictions.csv, confusion.png, reliability.png."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("run", help="run directory of a class-conditional model with a likelihood (vae, diffusion)")
    p.add_argument(
        "--missing",
        metavar="RATE|box|half",
        help="pixels the classifier does not see: a fraction removed at random per image (0.5 or 50%%), "
        "box (a centre square), half (the left half); default none",
    )
    p.add_argument("--split", default="test", help="split to classify (default test)")
    p.add_argument("--n", type=int, help="at most N images of the split, a seeded random subset (default all)")
    p.add_argument("--k", type=int, default=100, help="VAE: importance samples per image and class (default 100)")
    p.add_argument(
        "--t-stride",
        type=int,
        default=1,
        metavar="S",
        help="diffusion: 1 (default) = the bound, all T terms; S > 1 = an unbiased estimate of it from T/S terms, "
        "S times cheaper (every class gets the same timesteps and noise)",
    )
    p.add_argument(
        "--fill-steps",
        type=int,
        default=1,
        help="VAE with missing pixels: times the encoder's input holes are refilled from the decoder (default 1)",
    )
    p.add_argument(
        "--impute",
        default="dps",
        help="a model that cannot marginalise missing pixels (diffusion): the recover method that fills them "
        "(default dps; repaint)",
    )
    p.add_argument("--impute-steps", type=int, help="the imputation method's reverse-chain length (default its own)")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also the dataset's classifier on the same images, missing pixels set to the training mean "
        "(trained on first use and cached)",
    )
    p.add_argument("--bins", type=int, default=15, help="confidence bins for ECE and the reliability diagram")
    p.add_argument("--seed", type=int, default=0, help="subset, masks and the bounds' noise (default 0)")
    p.add_argument("--out", help="output directory (default RUN/classify/<setting>)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    options = ClassifyOptions(
        missing=args.missing,
        split=args.split,
        n=args.n,
        k=args.k,
        t_stride=args.t_stride,
        fill_steps=args.fill_steps,
        impute=args.impute,
        impute_steps=args.impute_steps,
        baseline=args.baseline,
        bins=args.bins,
        seed=args.seed,
        progress=not args.no_progress,
    )
    classify_run(args.run, options, out=args.out, ema=not args.no_ema)
