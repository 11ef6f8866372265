"""genimg's command line: thin. Each verb parses, calls the library and prints; ``VERBS`` names
the module that implements it (a verb of its own, or a few small ones together, as
``listings.py``). Only the verb being run is imported, so ``genimg --help`` and a mistyped verb
answer without importing torch or any task.

User errors (bad keys, files, shapes, a diverged run, a full disk) print one line and exit with
code 2; no traceback. Ctrl-C prints one line saying how to continue and exits with code 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import genimg
from genimg.errors import UserError

# verb -> (module that implements it, one line for `genimg --help`). The module's ``add_arguments``
# fills in the verb's parser, or the function named after a colon (``module:function``) where a
# module holds several verbs.
VERBS = {
    "train": ("genimg.cli.train", "train a model family (vae, dcgan, diffusion)"),
    "sample": ("genimg.cli.sample", "draw samples from a trained run into a PNG grid"),
    "evaluate": (
        "genimg.cli.evaluate",
        "score a run: FID, KID, IS (sharpness x diversity), precision/recall, likelihood",
    ),
    "explore": (
        "genimg.cli.explore",
        "look inside a trained model: reconstructions, interpolations, manifold, traversals, scatter",
    ),
    "recover": ("genimg.cli.recover", "recover damaged images with a trained model (denoise, inpaint, ...)"),
    "outliers": ("genimg.cli.outliers", "outlier detection with likelihoods: AUROC tables and histograms"),
    "sweep": ("genimg.cli.sweep", "train variants of a config (one-at-a-time or grid) and report them"),
    "report": (
        "genimg.cli.sweep:add_report_arguments",
        "write one self-contained HTML report comparing sweeps or runs",
    ),
    "classify": ("genimg.cli.classify", "classify images by Bayes' rule with a class-conditional model's likelihood"),
    "studio": ("genimg.cli.studio", "the local web app: explore latent spaces, draw, judge real vs generated"),
    "judge-score": ("genimg.cli.judge_score", "the fooling rate of the studio's real-vs-generated judgements"),
    "runs": (
        "genimg.cli.listings:add_runs_arguments",
        "list run directories with their status, epochs and headline metrics",
    ),
    "pretrained": (
        "genimg.cli.pretrained",
        "list the models shipped with genimg (use pretrained:NAME wherever a command takes a run)",
    ),
    "datasets": ("genimg.cli.listings:add_datasets_arguments", "list the datasets genimg knows"),
    "models": ("genimg.cli.listings:add_models_arguments", "list the model families and their config keys"),
}


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser; the arguments of ``verb`` (only) are filled in by its module."""
    parser = argparse.ArgumentParser(
        prog="genimg", description="Generative models of images: train, sample, inspect, measure, compare."
    )
    parser.add_argument("--version", action="version", version=f"genimg {genimg.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (target, help_text) in VERBS.items():
        verb_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == verb:
            module, _, function = target.partition(":")
            getattr(importlib.import_module(module), function or "add_arguments")(verb_parser)
    return parser


def _verb_in(argv: list[str]) -> str | None:
    """The verb the command line names: its first word that is not an option."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in VERBS else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_verb_in(argv)).parse_args(argv)
    try:
        args.handler(args)
    except UserError as e:
        print(f"genimg: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        # A training run's interruption names the run and the command that continues it.
        detail = str(e) or "a training run can be continued with `genimg train --resume RUN`"
        print(f"genimg: interrupted; {detail}", file=sys.stderr)
        return 130
    return 0
