"""Feature extractors by name: the built-in kinds in one static table, more with ``register_extractor``.

- ``classifier`` (the default): a small conv net trained on the dataset's own train split (the
  ``classifier`` package): shipped inside genimg for the built-in datasets, so every machine
  scores through the same weights; trained once and cached for the others. It works offline.
- ``inception``: the FID variant of Inception-v3 behind published FIDs, from the standard
  ``pt_inception-2015-12-05-6726825d.pth`` weights when the user has them (``inception.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from genimg.errors import UserError
from genimg.evaluate import classifier, inception
from genimg.evaluate.extractor import FeatureExtractor

ExtractorFactory = Callable[..., FeatureExtractor]
_EXTRACTORS: dict[str, ExtractorFactory] = {
    "classifier": classifier.classifier_extractor,
    "inception": inception.inception_extractor,
}


def register_extractor(kind: str, factory: ExtractorFactory) -> None:
    """Register ``factory(dataset, *, cache_dir=None, device="cpu", **opts) -> FeatureExtractor``."""
    _EXTRACTORS[kind] = factory


def available_extractors() -> list[str]:
    return sorted(_EXTRACTORS)


def get_extractor(
    kind: str,
    dataset: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    **opts: Any,
) -> FeatureExtractor:
    """The feature extractor ``kind`` for ``dataset``.

    - ``"classifier"``: the dataset's own classifier: the shipped one for the default config of a
      built-in dataset, else trained on first use and cached under ``<cache>/classifiers/``; ``opts``
      are classifier config fields (``epochs=``, ``seed=``, ``image_size=`` ...), ``progress=`` and
      ``shipped=False`` (or ``GENIMG_CLASSIFIER=train``) to train even the default one here.
    - ``"inception"``: Inception-v3 (FID weights) from ``weights_path=``, ``$GENIMG_INCEPTION_WEIGHTS``
      or ``<cache>/weights/``; the same network for every dataset.
    """
    if kind not in _EXTRACTORS:
        raise UserError(f"unknown feature extractor '{kind}'; choose one of {', '.join(sorted(_EXTRACTORS))}")
    return _EXTRACTORS[kind](dataset, cache_dir=cache_dir, device=device, **opts)
