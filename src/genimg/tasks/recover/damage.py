"""What damage a recovery task does: ``TaskSpec`` (the task and its parameters, validated, with
their defaults), the masks of inpainting (named: random, box, half, or a user's PNG) and
``make_degradation``, which builds the operator A plus noise for n images.

The image tasks damage an image (denoise, inpaint, superres, deblur, colorize); the scanner tasks
measure something else (``mri``: k-space at an acceleration, with cartesian, radial or random
masks; ``ct``: a sinogram at a number of views), shown as an image by the classical inverse.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genimg.errors import UserError
from genimg.tasks.recover.operators import (
    AveragePool,
    Degradation,
    GaussianBlur,
    Greyscale,
    Identity,
    LinearOperator,
    Mask,
    box_mask,
    check_rate,
    half_mask,
    random_mask,
)
from genimg.tasks.recover.scanner_operators import (
    MRI_MASKS,
    KSpaceSampling,
    ParallelBeamRadon,
    check_acceleration,
    check_views,
    kspace_mask,
)

IMAGE_TASKS = ("denoise", "inpaint", "superres", "deblur", "colorize")
SCANNER_TASKS = ("mri", "ct")  # measurements that are not images: k-space, sinograms
TASKS = IMAGE_TASKS + SCANNER_TASKS
EDIT_TASK = "edit"  # SDEdit on a user's image: no degradation, so it is not one of TASKS
DEFAULT_DENOISE_SIGMA = 0.3
DEFAULT_RATE = 0.5
DEFAULT_FACTOR = 2
DEFAULT_BLUR_SIGMA = 1.0
DEFAULT_ACCELERATION = 4.0
DEFAULT_VIEWS = 8
MASK_KINDS = ("random", "box", "half")


@dataclass
class TaskSpec:
    """What damage to do. Fields left None take the task's default; setting one the task does
    not use is an error (it would silently do nothing)."""

    task: str
    sigma: float | None = None  # noise std in [0, 1] units: 0.3 for denoise, 0 (none) otherwise
    mask: str | None = (
        None  # inpaint: random (default), box, half, or a PNG path; mri: cartesian (default), radial, random
    )
    rate: float | None = None  # inpaint with a random mask: fraction of pixels removed (0.5)
    factor: int | None = None  # superres: average-pooling factor (2)
    blur_sigma: float | None = None  # deblur: std of the Gaussian kernel in pixels (1.0)
    acceleration: float | None = None  # mri: pixels per k-space sample (4)
    views: int | None = None  # ct: projection angles over 180 degrees (8)

    def resolved(self) -> TaskSpec:
        if self.task not in TASKS:
            raise UserError(f"unknown task '{self.task}'; choose one of {', '.join(TASKS + (EDIT_TASK,))}")
        uses = {
            "mask": ("inpaint", "mri"),
            "rate": ("inpaint",),
            "factor": ("superres",),
            "blur_sigma": ("deblur",),
            "acceleration": ("mri",),
            "views": ("ct",),
        }
        for name, tasks in uses.items():
            if getattr(self, name) is not None and self.task not in tasks:
                raise UserError(
                    f"--{name.replace('_', '-')} applies to --task {' or '.join(tasks)}, not --task {self.task}"
                )
        sigma = self.sigma if self.sigma is not None else (DEFAULT_DENOISE_SIGMA if self.task == "denoise" else 0.0)
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
            raise UserError(f"--sigma is a noise standard deviation in [0, 1] units and must be >= 0, got {sigma}")
        if self.task == "denoise" and sigma == 0:
            raise UserError("denoising needs noise: pass --sigma > 0 (e.g. 0.3)")
        mask = (self.mask or "random") if self.task == "inpaint" else None
        if self.task == "mri":
            mask = self.mask or "cartesian"
            if mask not in MRI_MASKS:
                raise UserError(f"unknown k-space mask '{mask}' for --task mri; choose one of {', '.join(MRI_MASKS)}")
        acceleration = self.acceleration
        if self.task == "mri":
            acceleration = check_acceleration(DEFAULT_ACCELERATION if acceleration is None else acceleration)
        views = self.views
        if self.task == "ct":
            views = check_views(DEFAULT_VIEWS if views is None else views)
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
        return TaskSpec(self.task, float(sigma), mask, rate, factor, blur, acceleration, views)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def open_image_file(path: str | Path, what: str, hint: str) -> Image.Image:
    """The image at ``path``, decoded. ``what`` names it in errors ("mask", "input image") and
    ``hint`` says what to pass instead when it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist; {hint}")
    try:
        image = Image.open(path)
        image.load()  # decode now: Pillow opens lazily, and a broken file would fail later, far from here
    except Exception as e:  # Pillow raises several types for unreadable files
        raise UserError(f"cannot read {what} {path} as an image ({e}); {hint}") from None
    return image


def load_mask(path: str | Path, height: int, width: int) -> torch.Tensor:
    """(1, 1, H, W) from a PNG of exactly H x W pixels: white (> 50% grey) keeps, black removes."""
    hint = f"pass --mask random, box, half or the path of a PNG of {width}x{height} pixels"
    image = open_image_file(path, "mask file", hint)
    if image.size != (width, height):
        raise UserError(
            f"mask {path} is {image.size[0]}x{image.size[1]} pixels but the model's images are {width}x{height}; "
            f"draw the mask at {width}x{height} (white keeps a pixel, black removes it)"
        )
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy((grey > 0.5).astype(np.float32))[None, None]


def make_mask(
    kind: str, n: int, height: int, width: int, rate: float | None, generator: torch.Generator | None
) -> torch.Tensor:
    """A keep-mask by name (random, box, half) or from a PNG path."""
    if kind == "random":
        return random_mask(n, height, width, 0.5 if rate is None else rate, generator)
    if rate is not None:
        raise UserError(f"--rate applies to --mask random only; --mask {kind} removes a fixed region")
    if kind == "box":
        return box_mask(height, width)
    if kind == "half":
        return half_mask(height, width)
    if kind.lower().endswith(".png") or Path(kind).exists():
        return load_mask(kind, height, width)
    raise UserError(f"unknown mask '{kind}'; choose one of {', '.join(MASK_KINDS)} or the path of a PNG")


def make_degradation(
    spec: TaskSpec, image_shape: tuple[int, int, int], n: int, generator: torch.Generator | None = None
) -> Degradation:
    """The degradation of a (resolved) task for n images of shape (C, H, W)."""
    spec = spec.resolved()
    channels, height, width = image_shape
    assert spec.sigma is not None  # resolved() sets every field its task uses
    operator: LinearOperator
    if spec.task == "denoise":
        operator = Identity()
    elif spec.task == "inpaint":
        assert spec.mask is not None
        operator = Mask(make_mask(spec.mask, n, height, width, spec.rate, generator))
    elif spec.task == "superres":
        assert spec.factor is not None
        if height % spec.factor or width % spec.factor:
            raise UserError(
                f"--factor {spec.factor} does not divide the image size {height}x{width}; "
                f"pick a divisor (2 for 8x8 digits)"
            )
        operator = AveragePool(spec.factor)
    elif spec.task == "deblur":
        assert spec.blur_sigma is not None
        operator = GaussianBlur(spec.blur_sigma)
    elif spec.task == "mri":
        assert spec.mask is not None and spec.acceleration is not None
        operator = KSpaceSampling(kspace_mask(spec.mask, n, height, width, spec.acceleration, generator))
    elif spec.task == "ct":
        assert spec.views is not None
        if height != width:
            raise UserError(
                "--task ct needs square images (the scanner rotates about the centre); "
                f"this model's are {height}x{width}"
            )
        operator = ParallelBeamRadon(height, spec.views)
    else:  # colorize
        if channels != 3:
            raise UserError(
                f"colorize needs a model of RGB images; this one makes {channels}-channel images; "
                f"choose one of {', '.join(t for t in TASKS if t != 'colorize')} "
                f"or train on an RGB dataset (e.g. cifar10)"
            )
        operator = Greyscale()
    return Degradation(operator, spec.sigma)
