"""Models and configs back from a run directory (or ``pretrained:NAME``, a model shipped in the package)."""

from __future__ import annotations

from pathlib import Path

import torch

from genimg.config.run_config import RunConfig, apply_overrides
from genimg.errors import UserError
from genimg.models.base import GenerativeModel, build_model
from genimg.runs.checkpoint import load_weights, readable
from genimg.runs.directory import RunDir
from genimg.runs.pretrained_copy import pretrained_marker


def load_model(
    run_path: str | Path, which: str = "best", ema: bool = True, device: str | torch.device = "cpu"
) -> GenerativeModel:
    """Rebuild a model from a run directory with its kept weights (EMA weights where saved)."""
    run = RunDir.open(run_path)
    config = run.config()
    model = build_model(config.family, config.model, run.spec())
    ckpt = readable(run.checkpoint(which))
    if which == "best" and not ckpt.exists():
        ckpt = readable(run.checkpoint("last"))
    weights = ckpt / "ema.safetensors"
    if not (ema and weights.exists()):
        weights = ckpt / "model.safetensors"
    shipped = pretrained_marker(run.path)
    if shipped is None:
        load_weights(model, weights)
        return model.to(device).eval()
    name = shipped.get("run", "pretrained:NAME")
    if not weights.exists() and (ckpt / "ema.safetensors").exists():
        raise UserError(f"{name} ships only its EMA weights (its raw weights are not in the package); drop --no-ema")
    load_weights(model, weights, hint=f"run the command again with {name}, which restores the copy")
    return model.to(device).eval()


def resume_config(run_path: str | Path, overrides: list[str] | dict | None = None) -> RunConfig:
    """The saved config of a run, with overrides (typically a larger train.epochs)."""
    run = RunDir.open(run_path)
    shipped = pretrained_marker(run.path)
    if shipped is not None:  # its optimiser state and RNG are not shipped: a resume could not be exact
        raise UserError(
            f"{shipped.get('run', 'a pretrained model')} cannot be resumed (the package holds its weights, not its "
            f"training state); retrain it with `{shipped.get('command') or 'genimg train FAMILY'}`"
        )
    config = run.config()
    return apply_overrides(config, overrides or {})
