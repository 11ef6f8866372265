"""The recovery tasks: which damage to do (``TaskSpec``), with its defaults, and the degradation it makes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from genimg.errors import UserError
from genimg.tasks.recover.degradations import (
    AveragePool,
    Degradation,
    GaussianBlur,
    Greyscale,
    Identity,
    Mask,
    check_rate,
    make_mask,
)

TASKS = ("denoise", "inpaint", "superres", "deblur", "colorize")
EDIT_TASK = "edit"  # SDEdit on a user's image: no degradation, so it is not one of TASKS
DEFAULT_DENOISE_SIGMA = 0.3
DEFAULT_RATE = 0.5
DEFAULT_FACTOR = 2
DEFAULT_BLUR_SIGMA = 1.0


@dataclass
class TaskSpec:
    """What damage to do. Fields left None take the task's default; setting one the task does
    not use is an error (it would silently do nothing)."""

    task: str
    sigma: float | None = None  # noise std in [0, 1] units: 0.3 for denoise, 0 (none) otherwise
    mask: str | None = None  # inpaint: random (default), box, half, or a PNG path
    rate: float | None = None  # inpaint with a random mask: fraction of pixels removed (0.5)
    factor: int | None = None  # superres: average-pooling factor (2)
    blur_sigma: float | None = None  # deblur: std of the Gaussian kernel in pixels (1.0)

    def resolved(self) -> TaskSpec:
        if self.task not in TASKS:
            raise UserError(f"unknown task '{self.task}'; choose one of {', '.join(TASKS + (EDIT_TASK,))}")
        uses = {"mask": "inpaint", "rate": "inpaint", "factor": "superres", "blur_sigma": "deblur"}
        for name, task in uses.items():
            if getattr(self, name) is not None and self.task != task:
                raise UserError(f"--{name.replace('_', '-')} applies to --task {task}, not --task {self.task}")
        sigma = self.sigma if self.sigma is not None else (DEFAULT_DENOISE_SIGMA if self.task == "denoise" else 0.0)
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
            raise UserError(f"--sigma is a noise standard deviation in [0, 1] units and must be >= 0, got {sigma}")
        if self.task == "denoise" and sigma == 0:
            raise UserError("denoising needs noise: pass --sigma > 0 (e.g. 0.3)")
        mask = (self.mask or "random") if self.task == "inpaint" else None
        rate = self.rate
        if self.task == "inpaint" and mask == "random":
            rate = check_rate(DEFAULT_RATE if rate is None else rate)
        factor = self.factor if self.factor is not None else (DEFAULT_FACTOR if self.task == "superres" else None)
        if factor is not None and (not isinstance(factor, int) or factor < 2):
            raise UserError(f"--factor must be an integer >= 2, got {factor}")
        blur = self.blur_sigma
        if blur is None and self.task == "deblur":
            blur = DEFAULT_BLUR_SIGMA
        if blur is not None and not blur > 0:
            raise UserError(f"--blur-sigma must be positive, got {blur}")
        return TaskSpec(self.task, float(sigma), mask, rate, factor, blur)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def make_degradation(
    spec: TaskSpec, image_shape: tuple[int, int, int], n: int, generator: torch.Generator | None = None
) -> Degradation:
    """The degradation of a (resolved) task for n images of shape (C, H, W)."""
    spec = spec.resolved()
    channels, height, width = image_shape
    if spec.task == "denoise":
        operator = Identity()
    elif spec.task == "inpaint":
        operator = Mask(make_mask(spec.mask, n, height, width, spec.rate, generator))
    elif spec.task == "superres":
        if height % spec.factor or width % spec.factor:
            raise UserError(
                f"--factor {spec.factor} does not divide the image size {height}x{width}; "
                f"pick a divisor (2 for 8x8 digits)"
            )
        operator = AveragePool(spec.factor)
    elif spec.task == "deblur":
        operator = GaussianBlur(spec.blur_sigma)
    else:  # colorize
        if channels != 3:
            raise UserError(
                f"colorize needs a model of RGB images; this one makes {channels}-channel images; "
                f"choose one of {', '.join(t for t in TASKS if t != 'colorize')} "
                f"or train on an RGB dataset (e.g. cifar10)"
            )
        operator = Greyscale()
    return Degradation(operator, spec.sigma)
