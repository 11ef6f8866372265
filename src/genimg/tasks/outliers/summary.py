"""The numbers of table.json: one detection row per score and OOD set (per batch size for
typicality), and each set's likelihood next to the test split's."""

from __future__ import annotations

import math
from typing import Any

import torch

from genimg.data.spec import DataSpec
from genimg.evaluate.detection import detection_metrics
from genimg.tasks.outliers.scored_set import ScoredSet, measured, typicality_batches


def detection_rows(
    scores: list[str], by_name: dict[str, ScoredSet], set_names: list[str], batch_sizes: tuple[int, ...], seed: int
) -> list[dict[str, Any]]:
    """The test split against each OOD set, for each score: AUROC, AUPR, FPR@95 and the means."""
    rows = []
    test = by_name["test"]
    for score in scores:
        for set_name in set_names:
            if score == "typicality":
                for m in batch_sizes:
                    inside, outside = typicality_batches(by_name, set_name, m, seed)
                    if len(inside) == 0 or len(outside) == 0:
                        continue  # fewer images than one batch
                    rows.append(detection_row(score, set_name, inside, outside, batch_size=m))
            else:
                rows.append(detection_row(score, set_name, test.score(score), by_name[set_name].score(score)))
    return rows


def detection_row(
    score: str, set_name: str, inside: torch.Tensor, outside: torch.Tensor, batch_size: int | None = None
) -> dict[str, Any]:
    return {
        "score": score,
        "batch_size": batch_size,
        "ood": set_name,
        **detection_metrics(inside, outside),
        "n_in": int(len(inside)),
        "n_out": int(len(outside)),
        "in_mean": float(inside.double().mean()),
        "out_mean": float(outside.double().mean()),
    }


def likelihood_summary(by_name: dict[str, ScoredSet], spec: DataSpec) -> dict[str, Any]:
    """Per set: mean NLL (nats per image, bits per dim); the share of its images more likely than
    the median test image (over 1/2: the model prefers the outliers, the failure Nalisnick et al.
    2019a describe); and its single most likely image's NLL with the share of test images that
    are *less* likely than it (the failure in its mild form: one blank image beating real digits)."""
    dims = spec.num_pixels
    test_nll = measured(by_name["test"].nll, "nll")
    median_test = float(test_nll.median())
    out = {}
    for name, item in by_name.items():
        nll = measured(item.nll, "nll")
        best = float(nll.min())
        out[name] = {
            "nll_nats": float(nll.mean()),
            "nll_bpd": float(nll.mean()) / (dims * math.log(2)),
            "more_likely_than_median_test": float((nll < median_test).double().mean()),
            "best_nll_nats": best,
            "test_less_likely_than_best": float((test_nll > best).double().mean()),
        }
    return out
