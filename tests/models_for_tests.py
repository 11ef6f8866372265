"""A deterministic family for testing the trainer: no noise anywhere, so runs can be compared exactly."""
from dataclasses import dataclass

import torch
from torch import nn

from genimg.models.base import Batch, GenerativeModel, register_family


@dataclass
class TinyAEConfig:
    hidden: int = 16
    lr: float = 1e-2


@register_family("tiny-ae", TinyAEConfig, "deterministic auto-encoder used by the trainer's tests",
                 train_defaults={"patience": None, "likelihood_at_end": False, "sample_every": 0})
class TinyAE(GenerativeModel):
    def __init__(self, config, spec):
        super().__init__(config, spec)
        d = spec.num_pixels
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(d, config.hidden), nn.Tanh(), nn.Linear(config.hidden, d), nn.Sigmoid())

    def configure_optimizers(self):
        return {"ae": torch.optim.SGD(self.parameters(), lr=self.config.lr, momentum=0.9)}

    def _loss(self, batch: Batch):
        return ((self.net(batch.images).view_as(batch.images) - batch.images) ** 2).flatten(1).sum(1).mean()

    def training_step(self, batch, stepper):
        loss = self._loss(batch)
        stepper.step("ae", loss)
        return {"loss": loss.detach()}

    def validation_step(self, batch):
        return {"loss": self._loss(batch)}

    def sample(self, n, labels=None, **_):
        return torch.rand(n, *self.spec.image_shape)
