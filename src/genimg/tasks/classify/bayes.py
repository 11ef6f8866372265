"""Bayes' rule with a class-conditional generative model: p(y | x) = p(x | y) p(y) / sum_y' p(x | y') p(y').

Every class y is scored with the family's own bound B(x, y) <= log p(x | y) (the VAE's
importance-weighted bound, the diffusion model's variational bound), the prior log p(y) is
the class frequency of the training labels, and the posterior is the softmax over classes of
B(x, y) + log p(y). The bound stands in for log p(x | y), so the posterior is an
approximation: exact when every class's bound is equally tight, and the looser a class's
bound, the less probability it gets. Each class is scored with the same seed (common random
numbers: the same importance draws, or the same timesteps and noise), so the estimators' noise
largely cancels in the differences between classes, which are all Bayes' rule looks at.

With a keep-mask the model scores only the observed pixels, log p(x_obs | y) (a family with
``marginalises_missing``); ``run.py`` decides what to do for one without.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.rng import fixed_seed


@dataclass
class BayesClassification:
    """Per image (N) and class (C): the bounds, the prior, the posterior and the decision."""

    log_likelihood: torch.Tensor  # (N, C) float64: bound on log p(x | y); -inf for classes never seen in training
    log_prior: torch.Tensor  # (C,) float64
    bound: str  # which bound of the family's (iw, vlb, vlb_estimate, ...)

    @property
    def log_joint(self) -> torch.Tensor:
        return self.log_likelihood + self.log_prior

    @property
    def posterior(self) -> torch.Tensor:
        """(N, C): p(y | x), normalised over the classes."""
        return torch.softmax(self.log_joint, dim=1)

    @property
    def predictions(self) -> torch.Tensor:
        return self.log_joint.argmax(1)

    @property
    def log_evidence(self) -> torch.Tensor:
        """(N,): log sum_y exp(B(x, y)) p(y), a lower bound on log p(x) (each term is)."""
        return torch.logsumexp(self.log_joint, dim=1)


def log_prior(train_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """log p(y) from the training labels' frequencies, float64; -inf for a class never seen."""
    counts = torch.bincount(train_labels.long().cpu(), minlength=num_classes)[:num_classes].double()
    if counts.sum() == 0:
        raise UserError("the training split has no labels to estimate the class prior from")
    return (counts / counts.sum()).log()


def bayes_refusal(model: GenerativeModel) -> str | None:
    """None if the model can classify by Bayes' rule, else the one-line reason and what would work."""
    reason = model.refusal("likelihood", "classifying by Bayes' rule")
    if reason is not None:
        return f"{reason}; train a vae or diffusion model with conditional=true"
    if not model.conditional:
        return (
            f"classifying by Bayes' rule needs log p(x | y) for every class, and this {model.family} was "
            "trained without labels; train it with conditional=true"
        )
    return None


def classify_images(
    model: GenerativeModel,
    images: torch.Tensor,
    prior: torch.Tensor,
    *,
    keep: torch.Tensor | None = None,
    k: int = 100,
    t_stride: int = 1,
    fill_steps: int = 1,
    batch_size: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> BayesClassification:
    """Score every class with a positive prior for every image and apply Bayes' rule.

    ``keep`` ((N or 1, 1, H, W), 1 = observed) asks for log p(x_obs | y), which only a model
    with ``marginalises_missing`` gives; others are refused rather than silently scored on
    every pixel. Cost: (images x classes) likelihood calls, each the family's own: k decoder
    passes for a VAE, T / t_stride network evaluations for a diffusion model."""
    reason = bayes_refusal(model)
    if reason is not None:
        raise UserError(reason)
    if keep is not None and not model.marginalises_missing:
        raise UserError(
            f"a {model.family} cannot leave missing pixels out of its likelihood; fill them in first "
            "(classify's --impute) or use a model whose decoder factorises over pixels (a vae)"
        )
    num_classes = model.spec.num_classes
    classes = [c for c in range(num_classes) if torch.isfinite(prior[c])]  # p(y) = 0 classes cannot win
    model.eval()
    n = images.shape[0]
    scores = torch.full((n, num_classes), -torch.inf, dtype=torch.float64)
    bound = ""
    options: dict[str, Any] = {"k": k, "t_stride": t_stride, "fill_steps": fill_steps}
    batches = range(0, n, batch_size)
    bar = tqdm(total=len(batches) * len(classes), desc="log p(x|y)", leave=False, disable=not progress)
    for start in batches:
        x = images[start : start + batch_size].to(model.device)
        if keep is not None:  # a mask shared by all images, or one per image
            options["mask"] = (keep if keep.shape[0] == 1 else keep[start : start + batch_size]).to(model.device)
        for c in classes:
            labels = torch.full((x.shape[0],), c, dtype=torch.long, device=model.device)
            with fixed_seed(seed), torch.no_grad():  # the same draws for every class: common random numbers
                bounds = model.log_likelihood(x, labels, **options)
            bound = model.primary_bound(bounds)
            scores[start : start + x.shape[0], c] = bounds[bound].double().cpu()
            bar.update()
    bar.close()
    return BayesClassification(scores, prior.double().cpu(), bound)
