"""The runs a studio serves, fixed at start-up: each one's model, data and what it offers.

Clients name a run by the short id made here from its directory name, never by a path, so
no request can make the server read a file it was not started with.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from genimg.data.dataset import ImageDataset
from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.explore.picks import ImagePicker
from genimg.tasks.explore.space import latent_space
from genimg.tasks.explore.views import supported_views
from genimg.tasks.recover.run import METHODS, available_methods

ID_PATTERN = r"^[A-Za-z0-9_.=-]{1,80}$"  # what a run id may look like in a request
DEFAULT_DDIM_STEPS = 10  # a DDIM latent's encoder and decoder: few steps keep dragging live


class UnknownRun(LookupError):
    """A request names a run this studio was not started with."""


@dataclass
class StudioRun:
    """One run directory, loaded: its model on the CPU and its test split (loaded on first use)."""

    id: str
    run: RunDir
    model: GenerativeModel
    views: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.run.path.name

    @cached_property
    def picker(self) -> ImagePicker:
        return ImagePicker(self.run.config().data, seed=0)

    @property
    def test(self) -> ImageDataset:
        # Loaded as ordinary tensors even when first asked for inside inference mode (the latent
        # map), so that solvers needing gradients (latent optimisation) can use the images later.
        with torch.inference_mode(False):
            return self.picker.split

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.model.spec.image_shape

    def class_names(self) -> list[str]:
        names = self.test.class_names
        return list(names) if names else [str(k) for k in range(self.model.spec.num_classes)]

    def labels(self, label: int | None, n: int) -> torch.Tensor | None:
        """Labels for a class-conditional model (the class picker's, 0 by default); None otherwise."""
        if not self.model.conditional:
            return None
        label = 0 if label is None else label
        if not 0 <= label < self.model.spec.num_classes:
            raise UserError(f"label must lie in 0..{self.model.spec.num_classes - 1}, got {label}")
        return torch.full((n,), label, dtype=torch.long)

    def describe(self) -> dict[str, Any]:
        """What the pages need to know about this run, with the views it offers."""
        config = self.run.config()
        channels, height, width = self.image_shape
        return {
            "id": self.id,
            "name": self.name,
            "family": config.family,  # shown to people; the pages never branch on it
            "dataset": config.data.dataset,
            "channels": channels,
            "height": height,
            "width": width,
            "conditional": self.model.conditional,
            "num_classes": self.model.spec.num_classes,
            "views": self.views,
        }


def offered_views(model: GenerativeModel) -> dict[str, Any]:
    """The views a model offers, by capability: for each, whether it is offered and why not."""
    explore: dict[str, Any] = {"offered": model.has("latent"), "reason": model.refusal("latent", "exploring")}
    if model.has("latent"):
        space = latent_space(model, DEFAULT_DDIM_STEPS)
        reasons = supported_views(space)
        explore.update(
            {
                "space": space.name,
                "dim": space.dim,
                "encoded_map": space.can_encode,
                "map_reason": reasons["scatter"],
                "sliders": reasons["traverse"] is None,
                "sliders_reason": reasons["traverse"],
                # A denoiser's latent is the noise of its DDIM ODE, whose decoder takes a step count.
                "ddim_steps": DEFAULT_DDIM_STEPS if model.has("denoiser") else None,
            }
        )
    inpaint = [m for m in available_methods("inpaint", model) if METHODS[m].kind == "generative"]
    draw: dict[str, Any] = {
        "reconstruct": {
            "offered": model.has("reconstruct"),
            "reason": model.refusal("reconstruct", "reconstructing a drawing"),
        },
        "sdedit": {"offered": model.has("denoiser"), "reason": model.refusal("denoiser", "stroke -> image (SDEdit)")},
        "inpaint": {
            "offered": bool(inpaint),
            "methods": [{"name": m, "description": METHODS[m].description} for m in inpaint],
            "reason": None
            if inpaint
            else f"inpainting needs a latent space to optimise or a denoiser, and a {model.family} has neither",
        },
    }
    draw["offered"] = any(v["offered"] for v in draw.values())
    return {"explore": explore, "draw": draw, "judge": {"offered": True, "reason": None}}


class Studio:
    """The runs, loaded once; ``compute`` serialises the model calls of concurrent requests
    (two cores are shared better one request at a time than by interleaving them)."""

    def __init__(self, runs: list[StudioRun]) -> None:
        if not runs:
            raise UserError("the studio needs at least one run directory")
        self.runs = {r.id: r for r in runs}
        self.compute = threading.Lock()

    def get(self, run_id: str) -> StudioRun:
        run = self.runs.get(run_id)
        if run is None:
            raise UnknownRun(f"unknown run '{run_id}'; choose one of {', '.join(self.runs)}")
        return run

    @classmethod
    def open(cls, paths: list[str | Path], ema: bool = True) -> Studio:
        """Load every run (refusing a path that is not a run directory, before serving anything)."""
        runs: list[StudioRun] = []
        used: set[str] = set()
        for path in paths:
            run_dir = RunDir.open(path)
            model = load_model(run_dir.path, ema=ema)
            runs.append(StudioRun(_unique_id(run_dir.path, used), run_dir, model, offered_views(model)))
        return cls(runs)


def _unique_id(path: Path, used: set[str]) -> str:
    """A short id from the directory name (its parent's name too when two runs share a name)."""
    base = re.sub(r"[^A-Za-z0-9_.=-]+", "-", path.resolve().name).strip("-")[:60] or "run"
    candidate = base
    if candidate in used:
        candidate = re.sub(r"[^A-Za-z0-9_.=-]+", "-", f"{path.resolve().parent.name}-{base}")[:70]
    number = 2
    while candidate in used:
        candidate, number = f"{base}-{number}", number + 1
    used.add(candidate)
    return candidate
