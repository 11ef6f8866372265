"""`genimg train FAMILY key=value ...`: train a model, or continue one with --resume."""
from __future__ import annotations

import argparse

from genimg.config.run_config import apply_overrides, default_config, load_config
from genimg.errors import UserError
from genimg.runs.loading import resume_config
from genimg.train.trainer import train

EPILOG = """examples:
  genimg train vae                          the default VAE on the bundled digits
  genimg train vae latent_dim=2 beta=4      override config keys (key=value)
  genimg train vae --config my.yaml epochs=50
  genimg train --resume runs/vae-digits-...  epochs=400   continue a run exactly
  genimg train vae --show-config            print the resolved config and exit
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("family", nargs="?", help="model family: vae, dcgan or diffusion (omit with --resume)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. latent_dim=2 train.epochs=50")
    p.add_argument("--config", help="a YAML config file to start from")
    p.add_argument("--resume", metavar="RUN", help="continue a run directory exactly where it stopped")
    p.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--threads", type=int, help="torch CPU threads (same as threads=N)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    overrides = list(args.overrides)
    if args.resume:
        if args.family:  # `genimg train --resume RUN epochs=10`: the first override lands in `family`
            overrides.insert(0, args.family)
        if args.threads:
            overrides.append(f"threads={args.threads}")
        config = resume_config(args.resume, overrides)
        train(config, resume=args.resume)
        return
    if not args.family and not args.config:
        raise UserError("name a model family (genimg train vae) or pass --config FILE or --resume RUN")
    if args.family and "=" in args.family:
        overrides.insert(0, args.family)
        args.family = None
    config = load_config(args.config) if args.config else default_config(args.family)
    if args.family and args.config and config.family != args.family:
        raise UserError(f"--config describes a {config.family} but the command names {args.family}")
    if args.threads:
        overrides.append(f"threads={args.threads}")
    config = apply_overrides(config, overrides)
    if args.show_config:
        print(config.to_yaml(), end="")
        return
    train(config)
