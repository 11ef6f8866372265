"""A deterministic family for testing the trainer: no noise anywhere, so runs can be compared exactly.

It is also the proof that a family from outside genimg fits in one file: a config dataclass, a
model class and a ``FamilyInfo`` registered with ``register_family`` (a built-in family is a
package under ``genimg/models/`` and its registry lines: docs/ARCHITECTURE.md). It offers the
latent capability through a ``LatentSpace`` of its own, and the cross-family contract test runs
every task on it.
"""

from dataclasses import dataclass

import torch
from torch import nn

from genimg.config.families import FamilyInfo, register_family
from genimg.models.base import Batch, GenerativeModel
from genimg.models.latent_space import LatentSpace


@dataclass
class TinyAEConfig:
    hidden: int = 16
    lr: float = 1e-2


class TinyAESpace(LatentSpace):
    """The auto-encoder's bottleneck: an encoder, no prior to speak of."""

    name = "bottleneck"
    can_encode = True

    @property
    def dim(self):
        return self.model.config.hidden

    def encode(self, images, labels=None):
        return self.model.encoder(images.to(self.device))

    def decode(self, codes, labels=None):
        return self.model.decoder(codes.to(self.device)).view(-1, *self.model.spec.image_shape)


class TinyAE(GenerativeModel):
    family = "tiny-ae"

    def __init__(self, config, spec):
        super().__init__(config, spec)
        d = spec.num_pixels
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, config.hidden), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(config.hidden, d), nn.Sigmoid())

    def configure_optimizers(self):
        return {"ae": torch.optim.SGD(self.parameters(), lr=self.config.lr, momentum=0.9)}

    def _loss(self, batch: Batch):
        recon = self.decoder(self.encoder(batch.images)).view_as(batch.images)
        return ((recon - batch.images) ** 2).flatten(1).sum(1).mean()

    def training_step(self, batch, stepper):
        loss = self._loss(batch)
        stepper.step("ae", loss)
        return {"loss": loss.detach()}

    def validation_step(self, batch):
        return {"loss": self._loss(batch)}

    def sample(self, n, labels=None, **_):
        return torch.rand(n, *self.spec.image_shape)

    def latent_space(self, **_):
        return TinyAESpace(self)


register_family(
    FamilyInfo(
        name="tiny-ae",
        config_cls=TinyAEConfig,
        description="deterministic auto-encoder used by the trainer's tests",
        model=TinyAE,
        train_defaults={"patience": None, "likelihood_at_end": False, "sample_every": 0},
    )
)
