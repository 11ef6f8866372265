"""FID (and the class-histogram entropy) during training, against a fixed reference split."""

from __future__ import annotations

from typing import Any

import torch

from genimg.config.run_config import DataConfig
from genimg.data.dataset import ImageDataset
from genimg.evaluate.class_histogram import class_histogram
from genimg.evaluate.features import get_extractor
from genimg.evaluate.metrics.fid import fid
from genimg.evaluate.sampling import sample_images
from genimg.models.base import GenerativeModel


class TrainingEvaluator:
    def __init__(self, reference: ImageDataset, n: int, device: torch.device, data: DataConfig) -> None:
        opts = {"image_size": data.image_size} if data.image_size else {}
        self.extractor = get_extractor("classifier", data.dataset, device=device, **opts)
        self.n = n
        self.real_features = self.extractor.features(reference.images)

    def __call__(self, model: GenerativeModel) -> dict[str, Any]:
        # The caller fixes the seed; sampling here must not reseed.
        images = sample_images(model, self.n, **model.monitoring_sample_options())
        feats, probs = self.extractor.features_and_probabilities(images)
        _, entropy = class_histogram(probs)
        return {"fid": fid(self.real_features, feats), "class_entropy": entropy}
