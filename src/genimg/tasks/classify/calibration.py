"""How good a classifier's probabilities are: accuracy, the confusion matrix, and calibration.

Calibration compares the confidence, max_y p(y | x), with how often the prediction is right.
The confidences are cut into ``bins`` equal-width bins of [0, 1] (Guo et al. 2017; a
confidence of exactly 1 falls in the last bin); per bin, accuracy and mean confidence; the
expected calibration error is their gap weighted by the bin's share of the images,

    ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|,

0 for a calibrated classifier. ``log_loss`` is the mean of -log p(true class | x), the proper
scoring rule behind it (a confident mistake costs a lot), clipped at 1e-12 so that one
probability of exactly 0 does not make it infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

PROBABILITY_FLOOR = 1e-12


@dataclass
class Reliability:
    """Per confidence bin: its edges, image count, accuracy and mean confidence (NaN when empty)."""

    edges: list[float]
    counts: list[int]
    accuracy: list[float]
    confidence: list[float]
    ece: float

    def to_dict(self) -> dict:
        """Plain JSON: an empty bin's NaN accuracy and confidence become null."""
        return {
            "edges": self.edges,
            "counts": self.counts,
            "accuracy": [None if math.isnan(a) else a for a in self.accuracy],
            "confidence": [None if math.isnan(c) else c for c in self.confidence],
            "ece": self.ece,
        }


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) counts: row = true class, column = predicted class."""
    index = labels.long().cpu() * num_classes + predictions.long().cpu()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def reliability(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> Reliability:
    """The reliability diagram's numbers and the expected calibration error of (N, C) probabilities."""
    probabilities = probabilities.double().cpu()
    confidence, predictions = probabilities.max(1)
    correct = (predictions == labels.long().cpu()).double()
    which = (confidence * bins).long().clamp(max=bins - 1)
    counts = torch.bincount(which, minlength=bins)
    accuracy = torch.bincount(which, weights=correct, minlength=bins) / counts
    mean_confidence = torch.bincount(which, weights=confidence, minlength=bins) / counts
    gaps = torch.nan_to_num((accuracy - mean_confidence).abs() * counts)  # empty bins count 0
    ece = float(gaps.sum() / max(1, len(labels)))
    return Reliability(
        [i / bins for i in range(bins + 1)],
        counts.tolist(),
        accuracy.tolist(),
        mean_confidence.tolist(),
        ece,
    )


def log_loss(probabilities: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean -log p(true class | x), in nats."""
    true = probabilities.double().cpu().gather(1, labels.long().cpu()[:, None]).squeeze(1)
    return float(-true.clamp(min=PROBABILITY_FLOOR).log().mean())


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predictions.long().cpu() == labels.long().cpu()).double().mean())


def summary_scores(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> dict[str, float]:
    """Accuracy, expected calibration error and log loss of (N, C) probabilities."""
    return {
        "accuracy": accuracy(probabilities.argmax(1), labels),
        "ece": reliability(probabilities, labels, bins).ece,
        "log_loss": log_loss(probabilities, labels),
    }
