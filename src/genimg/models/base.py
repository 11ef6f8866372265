"""The one model protocol every generative family implements.

The trainer, the evaluator, the tasks, the sweep runner and the report only call these
methods; they never branch on the family. A new family is a package under ``models/`` (a
config module without torch, a ``GenerativeModel`` subclass) and its registration: the
``FamilyInfo`` its config module declares, and that module's line in ``BUILTIN_FAMILIES``
(``genimg.config.families``). A family kept outside genimg calls ``register_family`` instead
(``tests/models_for_tests.py`` does, in one file). docs/ARCHITECTURE.md, "A family", has the steps.

Protocol (images are float32 in [0, 1], NCHW, at every boundary):

- ``configure_optimizers() -> dict[str, Optimizer]``: named optimisers (a VAE has one, a GAN
  has "d" and "g").
- ``training_step(batch, stepper) -> dict[str, float | Tensor]``: updates the model on one
  batch and returns named scalars for the log. It calls ``stepper.step(name, loss)`` once per
  optimiser update (``models/stepper.py``). A GAN steps D, then G, inside one training_step
  (as in Lightning's manual optimisation).
- ``validation_step(batch) -> dict[str, Tensor]``: per-batch mean losses on held-out data,
  without updates. The key ``loss`` is what early stopping on val_loss watches; a family
  with no meaningful held-out loss omits it (and says so in its ``FamilyInfo``).
- ``sample(n, labels=None, **options) -> Tensor``: n images in [0, 1]. Options a family does
  not use are ignored (one call serves every family).
- ``ema_parameter_names()``, ``monitoring_sample_options()``: see their docstrings.

Helpers every family shares: ``check_labels`` (the one place labels are normalised and
checked) and ``eval_mode`` (a block in eval mode, the previous mode restored after it).

Optional capabilities, each one method; ``model.has(capability)`` says whether a family
provides it, and ``model.require(capability, purpose)`` refuses with one line otherwise:

==============  ==========================================  ==========================================
capability      method                                      used by
==============  ==========================================  ==========================================
latent          ``latent_space(**options) -> LatentSpace``  explore, latent optimisation (recover),
                                                            the studio
denoiser        ``denoiser() -> Denoiser``                  DPS, RePaint, SDEdit (recover, studio)
likelihood      ``log_likelihood(x, labels, **options)``    evaluate, outliers, the trainer's summary
reconstruct     ``reconstruct(x, labels)``                  the trainer's reconstructions.png
discriminator   ``discriminator_score(x, labels)``          outliers (the ``disc`` score)
==============  ==========================================  ==========================================
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

from genimg.config.families import get_family
from genimg.data.spec import DataSpec
from genimg.errors import UserError

if TYPE_CHECKING:  # type names only: a family builds neither
    from genimg.models.denoiser import Denoiser
    from genimg.models.latent_space import LatentSpace
    from genimg.models.stepper import Stepper

# capability -> (the method that provides it, what it is, in words, for refusals)
CAPABILITIES = {
    "latent": ("latent_space", "a latent space (an encoder or a generator's input)"),
    "denoiser": ("denoiser", "a denoiser (a diffusion model)"),
    "likelihood": ("log_likelihood", "a likelihood bound"),
    "reconstruct": ("reconstruct", "an encoder and a decoder to reconstruct images"),
    "discriminator": ("discriminator_score", "a discriminator"),
}


@dataclass
class Batch:
    images: torch.Tensor  # float32 [0, 1] NCHW
    labels: torch.Tensor  # int64


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Run the block with ``module`` in eval mode (dropout off, BatchNorm on its running
    statistics), then give it back the mode it had, also when the block raises: sampling or
    scoring in the middle of training must not leave the model in eval mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class GenerativeModel(nn.Module):
    """Base class of every family. See the module docstring for the protocol."""

    family: ClassVar[str] = ""
    # Names of the bounds ``log_likelihood`` returns, tightest first: consumers that want one
    # number per image take the first of these that the result holds.
    bound_names: ClassVar[tuple[str, ...]] = ()
    # Whether ``log_likelihood(x, labels, mask=keep)`` bounds log p(x_obs) with the missing pixels
    # summed out exactly (a decoder that factorises over pixels). A family without it refuses a
    # ``mask`` with a UserError (a bound that silently ignored it would bound the wrong thing), so
    # a caller checks this before passing one.
    marginalises_missing: ClassVar[bool] = False

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__()
        self.config = config
        self.spec = spec

    # --- training -------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, batch: Batch, stepper: Stepper) -> dict[str, Any]:
        raise NotImplementedError

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {}

    def ema_parameter_names(self) -> list[str] | None:
        """Names of the parameters an EMA averages; None means all trainable parameters."""
        return None

    # --- generation -----------------------------------------------------------------------
    def sample(self, n: int, labels: torch.Tensor | int | None = None, **options: Any) -> torch.Tensor:
        raise NotImplementedError

    def monitoring_sample_options(self) -> dict[str, Any]:
        """Options for ``sample`` when the trainer measures FID every few epochs. A family whose
        default sampler is slow (1000-step ancestral diffusion) returns a fast one here."""
        return {}

    # --- optional capabilities (see the module docstring) ----------------------------------
    def latent_space(self, **options: Any) -> LatentSpace:
        """The model's codes as a ``LatentSpace``; ``options`` are the family's own (diffusion: steps)."""
        raise NotImplementedError

    def denoiser(self) -> Denoiser:
        raise NotImplementedError

    def log_likelihood(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, **options: Any
    ) -> dict[str, torch.Tensor]:
        """Per-image lower bounds on log p(x) (or log p(x | y) with labels) in nats, by name.

        Options every family accepts (each uses those that apply, as ``sample`` does): ``k``,
        importance samples; ``t_stride``, a stride over diffusion timesteps (> 1 gives an
        estimate, named so); ``progress``; ``mask``, a keep-mask of observed pixels, accepted only
        by a family whose ``marginalises_missing`` is True (the others refuse it)."""
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_score(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image score, higher for images that look real."""
        raise NotImplementedError

    def marginal_log_likelihood(self, x: torch.Tensor, **options: Any) -> dict[str, torch.Tensor]:
        """Bounds on log p(x) for unlabelled images. A class-conditional model gets the mixture
        over classes with a uniform prior, log (1/C) sum_y exp(bound_y), itself a lower bound on
        log p(x) because each bound_y <= log p(x | y). A family with an unconditional mode of its
        own (diffusion's null class) overrides this."""
        self.require("likelihood", "a likelihood of unlabelled images")
        if not self.conditional:
            return self.log_likelihood(x, None, **options)
        per_class = [
            self.log_likelihood(x, torch.full((x.shape[0],), c, dtype=torch.long, device=x.device), **options)
            for c in range(self.spec.num_classes)
        ]
        return {
            key: torch.logsumexp(torch.stack([b[key].double() for b in per_class]), 0) - math.log(len(per_class))
            for key in per_class[0]
        }

    def primary_bound(self, bounds: dict[str, torch.Tensor]) -> str:
        """The tightest bound in a ``log_likelihood`` result."""
        return next((name for name in self.bound_names if name in bounds), next(iter(bounds)))

    def has(self, capability: str) -> bool:
        """Whether this family provides an optional capability (see ``CAPABILITIES``)."""
        method_name = CAPABILITIES[capability][0]
        method = getattr(type(self), method_name, None)
        return method is not None and method is not getattr(GenerativeModel, method_name)

    def refusal(self, capability: str, purpose: str) -> str | None:
        """None if this model has ``capability``; else the one-line reason ``purpose`` cannot run."""
        if self.has(capability):
            return None
        return f"{purpose} needs {CAPABILITIES[capability][1]}, which a {self.family} does not have"

    def require(self, capability: str, purpose: str) -> None:
        """Refuse with one line unless this model has ``capability``."""
        reason = self.refusal(capability, purpose)
        if reason is not None:
            raise UserError(reason)

    def capabilities(self) -> list[str]:
        return [c for c in CAPABILITIES if self.has(c)]

    # --- helpers every family uses ----------------------------------------------------------
    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    def check_labels(
        self,
        n: int,
        labels: torch.Tensor | int | None,
        *,
        missing: Literal["draw", "refuse"] = "draw",
        unconditional: Literal["refuse", "ignore"] = "refuse",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor | None:
        """Labels for n images as n class indices on the model's device, or None for an
        unconditional model: the one place labels are normalised and checked.

        An int stands for the same class for all n; anything else must hold n classes in
        0..num_classes-1. The defaults are sampling's: a conditional model given no labels draws
        them uniformly (``missing="refuse"`` asks for them instead, as encoding and decoding do),
        and an unconditional model given labels refuses them (``unconditional="ignore"`` returns
        None, as a likelihood or a latent space does: labels that do not condition are dropped).
        Drawn labels come from ``generator`` where given (on its own device, as ``gaussian_noise``
        draws), so a seeded sample is reproducible whatever else used the global stream."""
        if not self.conditional:
            if labels is not None and unconditional == "refuse":
                raise UserError(
                    f"this {self.family} is not class-conditional; train it with conditional=true to sample by label"
                )
            return None
        if labels is None:
            if missing == "draw":
                source = generator.device if generator is not None else self.device
                drawn = torch.randint(0, self.spec.num_classes, (n,), generator=generator, device=source)
                return drawn.to(self.device)
            raise UserError(f"this {self.family} is class-conditional: pass labels (--label K on the command line)")
        labels = torch.as_tensor(labels, device=self.device).long()
        if labels.dim() == 0:
            labels = labels.expand(n)
        if labels.shape != (n,):
            raise UserError(f"expected {n} labels, got shape {tuple(labels.shape)}")
        classes = self.spec.num_classes
        if labels.numel() and (labels.min() < 0 or labels.max() >= classes):
            raise UserError(f"labels must lie in 0..{classes - 1}, got {labels.min().item()}..{labels.max().item()}")
        return labels

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def prefers_channels_last(self) -> bool:
        """Whether the networks are convolutions only, which run faster channels-last (NHWC)."""
        return False

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(family: str, config: Any, spec: DataSpec) -> GenerativeModel:
    """Build a family's model from its config and the data it will see."""
    return get_family(family).model_class()(config, spec)
