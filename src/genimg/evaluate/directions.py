"""Which way is better for every number an evaluation records, read from the metrics themselves.

The report ranks runs with this; nothing else keeps its own table of directions.
"""

from __future__ import annotations

from genimg.evaluate.metrics import image_scores, ssim
from genimg.evaluate.metrics.fid import FID
from genimg.evaluate.metrics.inception_score import InceptionScore
from genimg.evaluate.metrics.kid import KID
from genimg.evaluate.metrics.precision_recall import PrecisionRecall

# Numbers that are not a metric object's output, with the reason for their direction.
_OTHERS = {
    "class_entropy": True,  # more of the classes used: less mode collapse
    "fid_over_floor": False,  # FID in units of the real-vs-real floor
    "nll": False,  # negative log-likelihood bounds (nats/image, bits/dim)
    "train_time": False,
    "train_cpu": False,
    "parameters": False,  # for the same scores, the smaller model is the better one
    "fooling_rate": True,  # people picked the generated image as real: 0.5 is indistinguishable
}

HIGHER_IS_BETTER: dict[str, bool] = {
    **{
        key: metric.higher_is_better
        for metric in (InceptionScore, FID, KID, PrecisionRecall)
        for key in metric.score_keys
    },
    **image_scores.HIGHER_IS_BETTER,
    "ssim": ssim.HIGHER_IS_BETTER,
    **_OTHERS,
}


def higher_is_better(key: str) -> bool | None:
    """True or False for a known number (``nll_iw_bpd`` counts as ``nll``); None if it has no direction."""
    if key in HIGHER_IS_BETTER:
        return HIGHER_IS_BETTER[key]
    return HIGHER_IS_BETTER.get(key.split("_", 1)[0])
