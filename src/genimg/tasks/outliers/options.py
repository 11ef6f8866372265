"""What an outlier-detection call can be asked for: the scores, their names, and the options.

Every score is oriented so that higher = more out-of-distribution; the package docstring
describes each one and its reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.tasks.outliers.ood_sets import BUILTIN_SETS

SCORES = {
    "nll": "negative log-likelihood bound, nats per image",
    "ratio": "likelihood ratio against a background model on perturbed images (Ren et al. 2019), log p_bg - log p",
    "complexity": "input-complexity-corrected score (Serra et al. 2020), -log2 p - PNG bits",
    "typicality": "typicality test on batches of M (Nalisnick et al. 2019b), |mean NLL - mean val NLL|",
    "disc": "negated discriminator logit (GAN; not a likelihood)",
}
LIKELIHOOD_SCORES = ("nll", "ratio", "complexity", "typicality")


@dataclass
class OutlierOptions:
    """Settings of ``detect_outliers``; ``check`` refuses impossible ones with one line each."""

    ood: list[str] = field(default_factory=lambda: list(BUILTIN_SETS))  # set names (see ood_sets.py)
    scores: list[str] | str | None = None  # names or "nll,ratio"; None: every score the model's family supports
    n: int | None = None  # at most this many images per set: test, val (typicality's reference), each OOD set
    seed: int = 0  # OOD sets, subsets, batches, and the likelihood estimators' noise
    k: int = 100  # VAE: importance samples for the bound
    t_stride: int = 1  # diffusion: 1 = the exact bound; > 1 = one random term per block of this many timesteps (noisy)
    mu: float = 0.15  # ratio: fraction of pixels perturbed in the background model's training data
    batch_sizes: tuple[int, ...] = (2, 5, 10)  # typicality: images per batch (M)
    background: list[str] = field(default_factory=list)  # ratio: config overrides for the background model
    batch_size: int = 100  # images per likelihood call
    progress: bool = True

    def check(self) -> None:
        if self.n is not None and self.n < 2:
            raise UserError(f"--n must be at least 2 (images per set), got {self.n}")
        if self.k < 1:
            raise UserError(f"--k (importance samples) must be at least 1, got {self.k}")
        if self.t_stride < 1:
            raise UserError(f"--t-stride must be at least 1 (1 = the exact diffusion bound), got {self.t_stride}")
        if not 0 < self.mu < 1:
            raise UserError(
                f"--mu (fraction of perturbed pixels) must lie in (0, 1), got {self.mu}; Ren et al. use 0.1-0.2"
            )
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UserError(f"--batch-sizes must be positive integers (e.g. 2,5,10), got {list(self.batch_sizes)}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {self.batch_size}")


def resolve_scores(names: list[str] | str | None, model: GenerativeModel) -> list[str]:
    """Requested score names, checked; None -> every score this family supports."""
    supported = [
        s
        for s in SCORES
        if (s == "disc" and model.has("discriminator")) or (s in LIKELIHOOD_SCORES and model.has("likelihood"))
    ]
    if names is None:
        if not supported:
            raise UserError(
                f"the {model.family} family has neither a likelihood nor a discriminator to score outliers with"
            )
        return supported
    items = [s.strip() for s in names.split(",")] if isinstance(names, str) else list(names)
    items = [s for s in items if s]
    for name in items:
        if name not in SCORES:
            raise UserError(f"unknown score '{name}'; choose from {', '.join(SCORES)} (comma-separated)")
        if name not in supported:
            needs = "a discriminator" if name == "disc" else "a likelihood"
            raise UserError(
                f"score '{name}' needs {needs}, which the {model.family} family lacks; "
                f"for this run choose from {', '.join(supported) or 'nothing'}"
            )
    if not items:
        raise UserError(f"no score given; choose from {', '.join(SCORES)} (comma-separated)")
    return list(dict.fromkeys(items))
