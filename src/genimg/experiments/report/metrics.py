"""The numbers the report's table shows, in column order: each one's title and how it is shown.

Which way is better comes from ``genimg.evaluate.directions``, where every evaluation output
declares it; the report keeps no directions of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from genimg.evaluate.directions import higher_is_better


@dataclass(frozen=True)
class Metric:
    key: str  # the score's key, in RunRecord.scores and in genimg.evaluate.directions
    title: str
    per_extractor: bool = False  # a sample-quality score: only comparable within one extractor
    in_paragraph: bool = True
    integer: bool = False

    @property
    def higher_is_better(self) -> bool:
        return bool(higher_is_better(self.key))

    @property
    def better(self) -> str:
        """Which way is better: "higher" or "lower"."""
        return "higher" if self.higher_is_better else "lower"


METRICS = [
    Metric("nll", "NLL bound (nats/image)"),
    Metric("fid", "FID", per_extractor=True),
    Metric("kid", "KID", per_extractor=True),
    Metric("is", "IS", per_extractor=True),
    Metric("sharpness", "IS sharpness S", per_extractor=True, in_paragraph=False),
    Metric("diversity", "IS diversity D", per_extractor=True, in_paragraph=False),
    Metric("precision", "precision", per_extractor=True),
    Metric("recall", "recall", per_extractor=True),
    Metric("class_entropy", "class entropy (nats)", per_extractor=True, in_paragraph=False),
    Metric("train_time", "train time (s)", in_paragraph=False),
    Metric("train_cpu", "train CPU (s)"),
    Metric("parameters", "parameters", integer=True),
]
