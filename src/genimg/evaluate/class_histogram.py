"""The class histogram of samples under the dataset classifier, and its entropy: mode collapse
shows as low entropy."""

from __future__ import annotations

import torch

from genimg.evaluate.float64 import as_float64


def class_histogram(probabilities: torch.Tensor) -> tuple[list[int], float]:
    """Counts of the classifier's top class over samples, and the entropy of that histogram in
    nats (log K for K equally used classes: 2.303 for 10)."""
    counts = torch.bincount(probabilities.argmax(1), minlength=probabilities.shape[1])
    p = as_float64(counts) / counts.sum().item()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
    return counts.tolist(), entropy
