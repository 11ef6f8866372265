"""The numbers the report's table shows, in column order: each one's title and how it is shown,
and which of them the per-parameter effects section plots and tests.

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
    in_paragraph: bool = True  # in the range paragraph of runs compared without a sweep
    integer: bool = False
    effect: bool = False  # plotted against each swept parameter, with a sentence on its effect

    @property
    def higher_is_better(self) -> bool:
        return bool(higher_is_better(self.key))

    @property
    def better(self) -> str:
        """Which way is better: "higher" or "lower"."""
        return "higher" if self.higher_is_better else "lower"


METRICS = [
    # bits/dim rather than nats/image: comparable across image sizes (the nats are in the cell's hover text)
    Metric("nll_bpd", "test NLL bound (bits/dim)", effect=True),
    Metric("fid", "FID", per_extractor=True, in_paragraph=False),
    # FID over the real-vs-real floor: FID's bias at the evaluation's sample count divided out
    Metric("fid_over_floor", "FID/floor", per_extractor=True, effect=True),
    Metric("fooling_rate", "fooling rate (human, 50% = real)", in_paragraph=False),
    Metric("kid", "KID", per_extractor=True, effect=True),
    Metric("is", "IS", per_extractor=True, effect=True),
    Metric("sharpness", "IS sharpness S", per_extractor=True, in_paragraph=False, effect=True),
    Metric("diversity", "IS diversity D", per_extractor=True, in_paragraph=False, effect=True),
    Metric("precision", "precision", per_extractor=True, effect=True),
    Metric("recall", "recall", per_extractor=True, effect=True),
    Metric("class_entropy", "class entropy (nats)", per_extractor=True, in_paragraph=False, effect=True),
    Metric("train_time", "train time (s)", in_paragraph=False),
    Metric("train_cpu", "train CPU (min)", effect=True),
    Metric("parameters", "parameters", integer=True),
]
