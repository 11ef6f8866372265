"""The settings of a Bayes classification (``ClassifyOptions``); ``check`` refuses bad ones, one line each,
before any model or data is loaded."""

from __future__ import annotations

from dataclasses import dataclass

from genimg.data.dataset import SPLITS
from genimg.errors import UserError
from genimg.tasks.classify.missing import Missing, parse_missing
from genimg.tasks.recover.run import METHODS


@dataclass
class ClassifyOptions:
    missing: str | float | None = None  # None, a fraction removed at random, "box" or "half" (missing.py)
    split: str = "test"  # the images classified
    n: int | None = None  # at most this many images of the split (a seeded random subset); None: all
    k: int = 100  # VAE: importance samples per image and class
    t_stride: int = 1  # diffusion: 1 = the bound (T terms); S > 1 = an unbiased estimate of it from T / S terms
    fill_steps: int = 1  # VAE with missing pixels: encoder fill refinements (see VAE.log_likelihood)
    impute: str = "dps"  # a model that cannot marginalise: the recover method that fills the missing pixels
    impute_steps: int | None = None  # its reverse-chain length; None: the method's default
    baseline: bool = False  # also the dataset classifier on the same images, missing pixels set to the train mean
    bins: int = 15  # reliability diagram / expected calibration error: equal-width confidence bins
    seed: int = 0  # subset, masks, and the bounds' noise (the same for every class: common random numbers)
    batch_size: int = 100  # images per likelihood call
    progress: bool = True

    def check(self) -> Missing:
        """Refuse impossible settings; return the parsed missing-data setting."""
        if self.split not in SPLITS:
            raise UserError(f"unknown split '{self.split}'; choose one of {', '.join(SPLITS)}")
        if self.n is not None and self.n < 1:
            raise UserError(f"--n must be at least 1 (images to classify), got {self.n}")
        if self.k < 1:
            raise UserError(f"--k (importance samples) must be at least 1, got {self.k}")
        if self.t_stride < 1:
            raise UserError(f"--t-stride must be at least 1 (1 = the diffusion bound itself), got {self.t_stride}")
        if self.fill_steps < 0:
            raise UserError(f"--fill-steps must be at least 0, got {self.fill_steps}")
        inpainters = [name for name, method in METHODS.items() if "inpaint" in method.tasks and name != "identity"]
        if self.impute not in inpainters:
            raise UserError(f"unknown --impute method '{self.impute}'; choose one of {', '.join(inpainters)}")
        if self.impute_steps is not None and self.impute_steps < 1:
            raise UserError(f"--impute-steps must be at least 1, got {self.impute_steps}")
        if self.bins < 2:
            raise UserError(f"--bins (calibration bins) must be at least 2, got {self.bins}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {self.batch_size}")
        return parse_missing(self.missing)
