"""The one model protocol every generative family implements.

The trainer, the evaluator, the sweep runner and the report only call these methods; they
never branch on the family. A new family is one new file that subclasses ``GenerativeModel``
and calls ``register_family``.

Protocol (images are float32 in [0, 1], NCHW, at every boundary):

- ``configure_optimizers() -> dict[str, Optimizer]``: named optimisers (a VAE has one, a GAN
  has "d" and "g").
- ``training_step(batch, stepper) -> dict[str, float | Tensor]``: updates the model on one
  batch and returns named scalars for the log. It calls ``stepper.step(name, loss)`` once per
  optimiser update; the stepper does zero_grad, backward, gradient averaging across ranks,
  clipping and the optimiser step. A GAN steps D, then G, inside one training_step (as in
  Lightning's manual optimisation).
- ``validation_step(batch) -> dict[str, Tensor]``: per-batch mean losses on held-out data,
  without updates. The key ``loss`` is what early stopping on val_loss watches. Families with
  no meaningful held-out loss return ``{}``.
- ``sample(n, labels=None, **options) -> Tensor``: n images in [0, 1].
- Optional, where the family has them: ``encode(x, labels)``, ``decode(z, labels)``,
  ``reconstruct(x, labels)``, ``log_likelihood(x, labels, k) -> dict[str, Tensor]`` (per-image
  bounds on log p(x) in nats), ``ema_parameter_names()`` (which parameters an EMA averages),
  ``monitoring_sample_options()`` (the ``sample`` options for FID during training, where the
  default sampler is too slow to run every few epochs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from genimg.errors import UserError


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data to size itself."""

    image_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    levels: int | None  # discrete grey levels, or None if continuous

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def image_size(self) -> int:
        return self.image_shape[-1]

    @property
    def num_pixels(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def to_dict(self) -> dict[str, Any]:
        return {"image_shape": list(self.image_shape), "num_classes": self.num_classes, "levels": self.levels}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataSpec":
        return cls(tuple(d["image_shape"]), int(d["num_classes"]), d.get("levels"))

    @classmethod
    def of(cls, dataset) -> "DataSpec":
        return cls(tuple(dataset.image_shape), dataset.num_classes, dataset.levels)


@dataclass
class Batch:
    images: torch.Tensor  # float32 [0, 1] NCHW
    labels: torch.Tensor  # int64


class GenerativeModel(nn.Module):
    """Base class of every family. See the module docstring for the protocol."""

    family: ClassVar[str] = ""

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__()
        self.config = config
        self.spec = spec

    # --- training -------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, batch: Batch, stepper: "Stepper") -> dict[str, Any]:
        raise NotImplementedError

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {}

    def ema_parameter_names(self) -> list[str] | None:
        """Names of the parameters an EMA averages; None means all trainable parameters."""
        return None

    # --- generation -----------------------------------------------------------------------
    def sample(self, n: int, labels: torch.Tensor | None = None, **options: Any) -> torch.Tensor:
        raise NotImplementedError

    def monitoring_sample_options(self) -> dict[str, Any]:
        """Options for ``sample`` when the trainer measures FID every few epochs. A family whose
        default sampler is slow (1000-step ancestral diffusion) returns a fast one here."""
        return {}

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    def check_labels(self, n: int, labels: torch.Tensor | int | None) -> torch.Tensor | None:
        """Validate labels for sampling: required by conditional models, rejected by others."""
        if labels is None:
            if self.conditional:
                return torch.randint(0, self.spec.num_classes, (n,), device=self.device)
            return None
        if not self.conditional:
            raise UserError(f"this {self.family} is not class-conditional; train it with conditional=true to sample by label")
        labels = torch.as_tensor(labels, device=self.device).long()
        if labels.dim() == 0:
            labels = labels.expand(n)
        if labels.shape != (n,):
            raise UserError(f"expected {n} labels, got shape {tuple(labels.shape)}")
        if labels.min() < 0 or labels.max() >= self.spec.num_classes:
            raise UserError(f"labels must lie in 0..{self.spec.num_classes - 1}, got {labels.min().item()}..{labels.max().item()}")
        return labels

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def has(self, capability: str) -> bool:
        """Whether this family provides an optional method (encode, decode, log_likelihood, ...)."""
        method = getattr(type(self), capability, None)
        return method is not None and method is not getattr(GenerativeModel, capability, None)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def adam(params, **kwargs) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has it for the parameters' device (several
    times less optimiser overhead per step for small models on CPU)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, **kwargs)


class Stepper:
    """Does one optimiser update for a model's training_step: the part every family shares.

    zero_grad -> backward -> average gradients over ranks (torch.distributed all-reduce, what
    DDP does, done here so a GAN's two optimisers and two backward passes per step need no
    special case) -> clip -> step.
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], grad_clip: float | None = None, world_size: int = 1):
        self.optimizers = optimizers
        self.grad_clip = grad_clip
        self.world_size = world_size
        self.grad_norms: dict[str, float] = {}

    def step(self, name: str, loss: torch.Tensor) -> None:
        if name not in self.optimizers:
            raise KeyError(f"no optimiser named '{name}'; have {sorted(self.optimizers)}")
        optimizer = self.optimizers[name]
        params = [p for group in optimizer.param_groups for p in group["params"]]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world_size > 1:
            _all_reduce_mean_grads(params, self.world_size)
        if self.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
            self.grad_norms[name] = float(norm)
        optimizer.step()


def _all_reduce_mean_grads(params: list[nn.Parameter], world_size: int) -> None:
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one collective, like DDP's buckets
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


# ---------------------------------------------------------------------------- family registry


@dataclass(frozen=True)
class Family:
    name: str
    config_cls: type
    model_cls: Callable[..., GenerativeModel]
    description: str
    train_defaults: dict[str, Any] = field(default_factory=dict)


_FAMILIES: dict[str, Family] = {}


def register_family(name: str, config_cls: type, description: str, train_defaults: dict[str, Any] | None = None):
    """Class decorator: ``@register_family("vae", VAEConfig, "...")``."""

    def decorator(model_cls):
        model_cls.family = name
        _FAMILIES[name] = Family(name, config_cls, model_cls, description, dict(train_defaults or {}))
        return model_cls

    return decorator


def get_family(name: str) -> Family:
    _import_builtin_families()
    if name not in _FAMILIES:
        raise UserError(f"unknown model family '{name}'; choose one of {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def families() -> list[Family]:
    _import_builtin_families()
    return list(_FAMILIES.values())


def build_model(family_name: str, config: Any, spec: DataSpec) -> GenerativeModel:
    return get_family(family_name).model_cls(config, spec)


def _import_builtin_families() -> None:
    import importlib

    for module in ("genimg.models.vae", "genimg.models.gan", "genimg.models.diffusion"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:  # a real missing dependency, not a family not written yet
                raise
