"""`genimg sample RUN`: draw samples from a trained run into a PNG grid (and optionally arrays)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from genimg.errors import UserError
from genimg.images import save_grid
from genimg.io import atomic_path
from genimg.models.diffusion.config import SAMPLERS
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model

SAMPLE_OPTIONS = ("mode", "temperature", "sampler", "steps", "eta", "guidance", "compile")


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("run", help="run directory")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", help="output PNG (default RUN/samples/sample-SEED.png)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, help="class to sample (class-conditional models)")
    s.add_argument("--mode", choices=["mean", "sample"], help="VAE: decoder mean, or re-sample x ~ p(x|z)")
    s.add_argument("--temperature", type=float, help="VAE/DCGAN: scale of the prior noise")
    s.add_argument("--sampler", choices=SAMPLERS, help="diffusion sampler")
    s.add_argument("--steps", type=int, help="diffusion: number of sampling steps")
    s.add_argument("--eta", type=float, help="DDIM eta (0 = deterministic)")
    s.add_argument("--guidance", type=float, help="diffusion: classifier-free guidance scale")
    s.add_argument("--npz", help="also save the samples as float32 arrays in this .npz")
    s.add_argument(
        "--compile", action="store_true", help="diffusion: torch.compile the network (pays off for long chains)"
    )
    s.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")
    s.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    run_dir = RunDir.open(args.run)
    model = load_model(run_dir.path, ema=not args.no_ema)
    options = {k: getattr(args, k) for k in SAMPLE_OPTIONS if getattr(args, k) is not None}
    torch.manual_seed(args.seed)
    with torch.inference_mode():
        images = model.sample(args.n, labels=args.label, **options)
    label_part = f"-label{args.label}" if args.label is not None else ""
    out = Path(args.out) if args.out else run_dir.samples_dir / f"sample-seed{args.seed}{label_part}.png"
    save_grid(images, out)
    print(f"wrote {args.n} samples to {out}")
    if args.npz:
        with atomic_path(args.npz) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f, images=images.cpu().numpy(), labels=np.full(args.n, -1 if args.label is None else args.label)
                )
        print(f"wrote arrays to {args.npz}")
