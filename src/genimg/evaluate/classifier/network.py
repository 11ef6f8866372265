"""The classifier network, and the trained network as a feature extractor."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genimg.data.dataset import Images
from genimg.errors import UserError
from genimg.evaluate.classifier.config import ClassifierConfig, Recipe, safe_name
from genimg.evaluate.extractor import FeatureExtractor


class ClassifierNet(nn.Module):
    """Conv stages -> features -> linear (logits). The features are the global average of the last
    maps (``dense`` = 0) or a ReLU layer of ``dense`` units on all of them: at 28x28 the average
    throws away where the strokes are, and costs about a point of test accuracy."""

    def __init__(
        self, channels: int, widths: tuple[int, ...], num_classes: int, dense: int = 0, image_size: int = 0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = channels
        for stage, width in enumerate(widths):
            if stage > 0:
                layers.append(nn.MaxPool2d(2))
            for _ in range(2):
                layers += [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                in_channels = width
        self.body = nn.Sequential(*layers)
        final_size = image_size // 2 ** (len(widths) - 1)
        self.dense = (
            nn.Sequential(nn.Flatten(), nn.Linear(in_channels * final_size**2, dense), nn.ReLU()) if dense else None
        )
        self.head = nn.Linear(dense or in_channels, num_classes)

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> ClassifierNet:
        channels, _, size = recipe.input_shape
        return cls(channels, recipe.widths, recipe.num_classes, recipe.dense, size)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.body(images * 2 - 1)
        features = self.dense(maps) if self.dense is not None else maps.mean(dim=(2, 3))
        return features, self.head(features)


class DatasetClassifier(FeatureExtractor):
    """A trained ``ClassifierNet`` as a feature extractor, with the record of how it was made."""

    kind = "classifier"
    default_batch_size = 500

    def __init__(self, net: ClassifierNet, config: ClassifierConfig, recipe: Recipe, info: dict[str, Any]) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.config = config
        self.recipe = recipe
        self.info = info
        self.feature_dim = recipe.dense or recipe.widths[-1]
        self.num_classes = recipe.num_classes

    @property
    def test_accuracy(self) -> float:
        return float(self.info["test_accuracy"])

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "name": f"classifier-{safe_name(self.config.dataset)}",
            "kind": self.kind,
            "dataset": self.config.dataset,
            "config": self.config.to_dict(),
            "config_hash": self.config.hash(),
            "input_shape": list(self.recipe.input_shape),
            "feature_dim": self.feature_dim,
            "num_classes": self.num_classes,
            "data_sha256": self.info.get("data_sha256"),  # absent in entries cached by early development builds
            "weights_sha256": self.info["weights_sha256"],
            "test_accuracy": self.test_accuracy,
        }

    def _check_shape(self, images: Images) -> None:
        expected = self.recipe.input_shape
        if tuple(images.shape[1:]) != expected:
            raise UserError(
                f"the {self.config.dataset} classifier takes images of shape {expected} (C, H, W), got "
                f"{tuple(images.shape[1:])}; evaluate samples at the dataset's shape, or use the inception extractor"
            )

    def _features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(images)
