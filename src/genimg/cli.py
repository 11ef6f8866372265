"""genimg's command line: thin. It parses, calls the library, prints.

User errors (bad keys, files, shapes) print one line and exit with code 2; no traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
from genimg.errors import UserError

EPILOG_TRAIN = """examples:
  genimg train vae                          the default VAE on the bundled digits
  genimg train vae latent_dim=2 beta=4      override config keys (key=value)
  genimg train vae --config my.yaml epochs=50
  genimg train --resume runs/vae-digits-...  epochs=400   continue a run exactly
  genimg train vae --show-config            print the resolved config and exit
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genimg", description="Generative models of images: train, sample, inspect, measure, compare.")
    p.add_argument("--version", action="version", version=f"genimg {genimg.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("train", help="train a model family (vae, dcgan, diffusion)", epilog=EPILOG_TRAIN,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("family", nargs="?", help="model family: vae, dcgan or diffusion (omit with --resume)")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. latent_dim=2 train.epochs=50")
    t.add_argument("--config", help="a YAML config file to start from")
    t.add_argument("--resume", metavar="RUN", help="continue a run directory exactly where it stopped")
    t.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    t.add_argument("--threads", type=int, help="torch CPU threads (same as threads=N)")

    s = sub.add_parser("sample", help="draw samples from a trained run into a PNG grid")
    s.add_argument("run", help="run directory")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", help="output PNG (default RUN/samples/sample-SEED.png)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--label", type=int, help="class to sample (class-conditional models)")
    s.add_argument("--mode", choices=["mean", "sample"], help="VAE: decoder mean, or re-sample x ~ p(x|z)")
    s.add_argument("--temperature", type=float, help="VAE/DCGAN: scale of the prior noise")
    s.add_argument("--sampler", choices=["ddpm", "ddim"], help="diffusion sampler")
    s.add_argument("--steps", type=int, help="diffusion: number of sampling steps")
    s.add_argument("--eta", type=float, help="DDIM eta (0 = deterministic)")
    s.add_argument("--guidance", type=float, help="diffusion: classifier-free guidance scale")
    s.add_argument("--npz", help="also save the samples as float32 arrays in this .npz")
    s.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA")

    sub.add_parser("datasets", help="list the datasets genimg knows")
    sub.add_parser("models", help="list the model families and their config keys")
    _add_task_parsers(sub)
    return p


# Commands that live beside their library modules: each module defines register_cli(subparsers),
# which adds a parser and sets handler=... on it.
TASK_MODULES = (
    "genimg.evaluate.evaluator",
    "genimg.tasks.latent",
    "genimg.tasks.inverse",
    "genimg.tasks.outliers",
    "genimg.experiments.sweep",
    "genimg.experiments.report",
)


def _add_task_parsers(sub) -> None:
    import importlib

    for name in TASK_MODULES:
        importlib.import_module(name).register_cli(sub)


def cmd_train(args: argparse.Namespace) -> None:
    from genimg.train import apply_overrides, default_config, load_config, resume_config, train

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


def cmd_sample(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from genimg.experiments.records import RunDir
    from genimg.images import save_grid
    from genimg.io import atomic_path
    from genimg.train import load_model

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    run = RunDir.open(args.run)
    model = load_model(run.path, ema=not args.no_ema)
    options = {k: getattr(args, k) for k in ("mode", "temperature", "sampler", "steps", "eta", "guidance") if getattr(args, k) is not None}
    torch.manual_seed(args.seed)
    with torch.inference_mode():
        images = model.sample(args.n, labels=args.label, **options)
    out = Path(args.out) if args.out else run.samples_dir / f"sample-seed{args.seed}{'-label%d' % args.label if args.label is not None else ''}.png"
    save_grid(images, out)
    print(f"wrote {args.n} samples to {out}")
    if args.npz:
        with atomic_path(args.npz) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, images=images.cpu().numpy(), labels=np.full(args.n, -1 if args.label is None else args.label))
        print(f"wrote arrays to {args.npz}")


def cmd_datasets(args: argparse.Namespace) -> None:
    from genimg.data import available_datasets

    for info in available_datasets():
        name = f"{info.name}:PATH" if info.name in ("folder", "npz") else info.name
        print(f"{name:16s} {'offline ' if info.offline else 'download'}  {info.description}")


def cmd_models(args: argparse.Namespace) -> None:
    from genimg.train import default_config
    from genimg.models import families

    for fam in families():
        print(f"{fam.name}: {fam.description}")
        print("  keys: " + ", ".join(k.split(".", 1)[1] for k in default_config(fam.name).valid_keys() if k.startswith("model.")))


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "datasets": cmd_datasets, "models": cmd_models}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = COMMANDS.get(args.command) or args.handler
    try:
        handler(args)
    except UserError as e:
        print(f"genimg: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genimg: interrupted; a training run can be continued with `genimg train --resume RUN`", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
