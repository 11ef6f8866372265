"""What ``explore`` (and ``genimg explore``) lets a user choose, shared by the views it runs."""

from __future__ import annotations

from dataclasses import dataclass

from genimg.errors import UserError
from genimg.tasks.explore.paths import METHODS

BETWEEN = ("auto", "images", "seeds")  # what interpolation paths join; auto: images when the model has an encoder


@dataclass
class ExploreOptions:
    # recon: images (16); interp: pairs (6); manifold: grid side (15); traverse: coordinates; scatter: test images
    n: int | None = None
    steps: int | None = None  # interp: points on each path (10); traverse: offsets per coordinate (9)
    method: str = "both"  # interp: linear, slerp or both
    seed: int = 0
    label: int | None = None  # class for conditional models (manifold, traverse, interp between draws)
    index: int = 0  # traverse: the test image whose code is traversed
    between: str = "auto"  # interp: images, seeds, or auto (images when the model has an encoder)
    ddim_steps: int = 50  # diffusion: steps of the DDIM encoder and decoder

    def check(self) -> None:
        """Refuse, in the command line's words, a choice no view can take."""
        if self.method not in (*METHODS, "both"):
            raise UserError(f"--method must be linear, slerp or both, got '{self.method}'")
        if self.between not in BETWEEN:
            raise UserError(f"--between must be images, seeds or auto, got '{self.between}'")
        for name, value in (("--n", self.n), ("--steps", self.steps), ("--ddim-steps", self.ddim_steps)):
            if value is not None and value < 1:
                raise UserError(f"{name} must be at least 1, got {value}")
        if self.index < 0:
            raise UserError(f"--index must be a test image's position (0 or more), got {self.index}")

    def methods(self) -> tuple[str, ...]:
        """The interpolation paths to draw."""
        return METHODS if self.method == "both" else (self.method,)
