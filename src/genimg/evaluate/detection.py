"""How well a score separates two sets: AUROC, AUPR and FPR at 95% TPR (outlier detection).

The positive class is the second set (the outliers) and a higher score means "more likely an
outlier". Computed with scikit-learn: AUROC is ``roc_auc_score``, AUPR is
``average_precision_score`` with the outliers as positives, and FPR@95 is the smallest
false-positive rate (inliers flagged) at which at least 95% of the outliers are flagged, read
off ``roc_curve``.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from genimg.errors import UserError
from genimg.models.precision import as_float64

TPR_TARGET = 0.95


def fpr_at_tpr(labels: np.ndarray, scores: np.ndarray, tpr_target: float = TPR_TARGET) -> float:
    """The smallest false-positive rate among thresholds that reach ``tpr_target`` (positives = 1)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(fpr[np.searchsorted(tpr, tpr_target, side="left")])


def detection_metrics(in_scores: np.ndarray | torch.Tensor, out_scores: np.ndarray | torch.Tensor) -> dict[str, float]:
    """AUROC, AUPR and FPR@95%TPR with OOD as the positive class and higher score = more OOD."""
    in_scores, out_scores = (np.asarray(as_float64(torch.as_tensor(s)).cpu()) for s in (in_scores, out_scores))
    if len(in_scores) == 0 or len(out_scores) == 0:
        raise UserError("need at least one in-distribution and one OOD score; raise --n")
    labels = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])
    # An infinite NLL (an impossible pixel) is the most OOD of all; sklearn wants finite numbers.
    scores = np.nan_to_num(
        np.concatenate([in_scores, out_scores]),
        nan=np.nan,
        posinf=np.finfo(np.float64).max,
        neginf=-np.finfo(np.float64).max,
    )
    return {
        "auroc": float(roc_auc_score(labels, scores)),
        "aupr": float(average_precision_score(labels, scores)),
        "fpr95": fpr_at_tpr(labels, scores),
    }
