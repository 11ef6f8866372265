"""`genimg train FAMILY key=value ...`: train a model, or continue one with --resume."""

from __future__ import annotations

import argparse

from genimg.config.families import families
from genimg.config.presets import PRESET_OF_DATASET
from genimg.config.run_config import apply_overrides, config_for, load_config
from genimg.errors import UserError
from genimg.runs.loading import resume_config
from genimg.train.trainer import train

EPILOG = """examples:
  genimg train vae                          the default VAE on the bundled 8x8 digits
  genimg train vae dataset=mnist-sample     the VAE's 28x28 preset on 5,000 real MNIST digits
  genimg train vae latent_dim=2 beta=4      override config keys (key=value)
  genimg train vae --config my.yaml epochs=50
  genimg train --resume runs/vae-digits-...  epochs=400   continue a run exactly
  genimg train vae --show-config            print the resolved config and exit

presets: a family starts from the preset of its dataset; key=value overrides win.
"""


def _preset_lines() -> str:
    datasets: dict[str, list[str]] = {}
    for dataset, preset in PRESET_OF_DATASET.items():
        datasets.setdefault(preset, []).append(dataset)
    names = {name for family in families() for name in family.presets}
    return (
        "\n".join(f"  {name:13s} {', '.join(datasets.get(name, []))}" for name in sorted(names))
        + "\n  default       any other dataset (the family's defaults)\n"
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG + _preset_lines()
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("family", nargs="?", help="model family: vae, dcgan or diffusion (omit with --resume)")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. latent_dim=2 train.epochs=50"
    )
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
    if args.threads:
        overrides.append(f"threads={args.threads}")
    if args.config:
        config = apply_overrides(load_config(args.config), overrides)
        if args.family and config.family != args.family:
            raise UserError(f"--config describes a {config.family} but the command names {args.family}")
    else:
        config = config_for(args.family, overrides)  # the dataset's preset, then the overrides
    if args.show_config:
        print(config.to_yaml(), end="")
        return
    train(config)
