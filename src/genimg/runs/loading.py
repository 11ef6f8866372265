"""Models and configs back from a run directory."""

from __future__ import annotations

from pathlib import Path

import torch

from genimg.config.run_config import RunConfig, apply_overrides
from genimg.models.base import GenerativeModel
from genimg.models.build import build_model
from genimg.runs.checkpoint import load_weights, readable
from genimg.runs.directory import RunDir


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
    load_weights(model, weights)
    return model.to(device).eval()


def resume_config(run_path: str | Path, overrides: list[str] | dict | None = None) -> RunConfig:
    """The saved config of a run, with overrides (typically a larger train.epochs)."""
    config = RunDir.open(run_path).config()
    return apply_overrides(config, overrides or {})
