"""The feature-extractor interface: the networks FID, KID, IS and precision/recall look through.

Every sample-quality score is a statement about a feature space, so the extractor is part of
the score: FID in a digits classifier's 64-d features and FID in Inception-v3's 2048-d pool
features are different numbers on different scales. An extractor therefore carries an
``identity`` (a JSON-able description: kind, dataset, config, sha256 of its weights, the
classifier's test accuracy) and a short ``extractor_id()``; every score records the id, and
comparisons refuse to mix scores made by different extractors (``check_same_extractor``).

Extractors take float32 images in [0, 1], NCHW, batch them internally under
``torch.inference_mode()``, and return float32 CPU tensors: ``features`` (N, d) and
``probabilities`` (N, K), the class probabilities c(y|x) the Inception Score needs. Metrics
accumulate their statistics in float64 themselves. ``features.py`` finds them by name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from genimg.data.dataset import Images, check_images
from genimg.data.download import cache_dir as default_cache_dir
from genimg.data.download import sha256_of
from genimg.errors import UserError
from genimg.models.precision import as_float64


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The genimg cache: ``cache_dir`` if given, else ``$GENIMG_CACHE``, else ``~/.cache/genimg``."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def canonical_json(obj: Any) -> str:
    """One spelling per value (sorted keys, no spaces), so hashes of configs are stable."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def sha256_of_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def sha256_of_file(path: str | os.PathLike) -> str:
    return sha256_of(path)


class FeatureExtractor(nn.Module):
    """A frozen network that maps [0, 1] images to features (N, d) and class probabilities (N, K).

    Subclasses set ``kind``, ``feature_dim``, ``num_classes``, implement ``identity``,
    ``_check_shape`` (what image shapes the network accepts) and ``_features_and_logits``
    (one batch, already on the device), and may override ``_probabilities_from_logits``.
    The module is always in eval mode: BatchNorm must use its stored statistics, never the
    batch's, or a feature would depend on which other images share its batch.
    """

    kind: ClassVar[str] = ""
    default_batch_size: ClassVar[int] = 256
    feature_dim: int
    num_classes: int

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    # --- what subclasses provide ------------------------------------------------------------
    @property
    def identity(self) -> dict[str, Any]:
        """JSON-able description that pins the extractor down (must include a ``name``)."""
        raise NotImplementedError

    def _check_shape(self, images: Images) -> None:
        raise NotImplementedError

    def _features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _probabilities_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(as_float64(logits), dim=1).float()  # on the CPU from MPS (models/precision.py)

    # --- the public interface ---------------------------------------------------------------
    def extractor_id(self) -> str:
        """Short stable string naming this exact extractor: ``<name>-<12 hex of the identity's hash>``."""
        identity = self.identity
        return f"{identity['name']}-{sha256_of_json(identity)[:12]}"

    def features(self, images: Images, batch_size: int | None = None) -> torch.Tensor:
        """Feature vectors, float32 (N, feature_dim) on the CPU."""
        return self.features_and_probabilities(images, batch_size)[0]

    def probabilities(self, images: Images, batch_size: int | None = None) -> torch.Tensor:
        """Class probabilities c(y|x), float32 (N, num_classes) on the CPU; rows sum to 1."""
        return self.features_and_probabilities(images, batch_size)[1]

    def features_and_probabilities(
        self, images: Images, batch_size: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both in one pass over the network (FID and IS of the same samples cost one forward)."""
        self.check_input(images)
        batch_size = batch_size or self.default_batch_size
        features, probabilities = [], []
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start : start + batch_size].to(self.device, torch.float32)
                f, logits = self._features_and_logits(batch)
                features.append(f.float().cpu())
                probabilities.append(self._probabilities_from_logits(logits).cpu())
        if not features:
            return torch.zeros(0, self.feature_dim), torch.zeros(0, self.num_classes)
        return torch.cat(features), torch.cat(probabilities)

    def check_input(self, images: Images) -> None:
        check_images(images, f"{self.kind} feature extractor")
        self._check_shape(images)

    # --- module plumbing --------------------------------------------------------------------
    def train(self, mode: bool = True) -> FeatureExtractor:
        # Frozen on purpose: see the class docstring.
        return super().train(False)

    def extra_repr(self) -> str:
        return self.extractor_id()


def check_same_extractor(extractor_ids: Iterable[str | None], what: str = "scores") -> str:
    """Raise a UserError unless every id names the same extractor; return that id.

    Comparisons and reports call this before putting scores side by side: an FID measured
    through one network says nothing about an FID measured through another.
    """
    ids = list(extractor_ids)
    distinct = sorted({str(i) for i in ids})
    if not ids:
        raise UserError(f"no {what} to compare")
    if len(distinct) > 1:
        raise UserError(
            f"these {what} were measured with different feature extractors ({', '.join(distinct)}); "
            "re-evaluate them all with one extractor before comparing"
        )
    return distinct[0]
