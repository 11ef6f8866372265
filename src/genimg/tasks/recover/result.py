"""What a recovery produced and how well: per-method images and scores (``MethodResult``), the
whole table (``Recovery``) as JSON, CSV and aligned text, and ``score`` itself.

Scores are MSE, RMSE, PSNR and SSIM as mean +- std over images, of the degraded image against
the original ("N vs O") and of each method's answer against it ("R vs O").
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from genimg.evaluate.metrics.recovery_metrics import RecoveryMetrics
from genimg.tasks.recover.methods import METHODS
from genimg.tasks.recover.task import TaskSpec

METRIC_NAMES = ("mse", "rmse", "psnr", "ssim")


def score(recovered: torch.Tensor, originals: torch.Tensor) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (over images, ddof = 0) of MSE, RMSE, PSNR and SSIM.
    An exact image's infinite PSNR is left out of both, and counted in ``num_infinite``."""
    metrics = RecoveryMetrics()
    metrics.update(recovered.float().cpu(), originals.float().cpu())
    table = {}
    for name, scores in metrics.compute().items():
        finite = scores.per_image[torch.isfinite(scores.per_image)]
        std = float(finite.std(unbiased=False)) if finite.numel() else math.nan
        table[name] = {"mean": scores.mean, "std": std, "num_infinite": scores.num_infinite}
    return table


@dataclass
class MethodResult:
    name: str
    kind: str
    images: torch.Tensor
    recovered: dict[str, dict[str, float]]  # R vs O
    cpu_s: float
    wall_s: float


@dataclass
class Recovery:
    task: TaskSpec
    originals: torch.Tensor
    observed: torch.Tensor  # N: the measurement as an image in [0, 1]
    mask: torch.Tensor | None
    degraded: dict[str, dict[str, float]]  # N vs O
    methods: dict[str, MethodResult] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def best(self, kind: str, metric: str = "psnr") -> tuple[str, float] | None:
        scored = [(r.recovered[metric]["mean"], name) for name, r in self.methods.items() if r.kind == kind]
        if not scored:
            return None
        value, name = max(scored)
        return name, value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.info,
            "task": self.task.task,
            "degradation": self.task.to_dict(),
            "n": int(self.originals.shape[0]),
            "metrics": list(METRIC_NAMES),
            "degraded": self.degraded,
            "methods": {
                name: {
                    "kind": r.kind,
                    "description": METHODS[r.name].description,
                    "degraded": self.degraded,
                    "recovered": r.recovered,
                    "cpu_s": round(r.cpu_s, 3),
                    "wall_s": round(r.wall_s, 3),
                }
                for name, r in self.methods.items()
            },
        }
        generative, classical = self.best("generative"), self.best("classical")
        out["best"] = {
            "generative": {"method": generative[0], "psnr": generative[1]} if generative else None,
            "classical": {"method": classical[0], "psnr": classical[1]} if classical else None,
            "psnr_gain_db": generative[1] - classical[1] if generative and classical else None,
        }
        return out

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["method", "kind", "compare"] + [f"{m}_{s}" for m in METRIC_NAMES for s in ("mean", "std")] + ["cpu_s"]
        writer.writerow(header)
        for name, r in self.methods.items():
            for compare, table in (("N vs O", self.degraded), ("R vs O", r.recovered)):
                cells = [f"{table[m][s]:.6g}" for m in METRIC_NAMES for s in ("mean", "std")]
                writer.writerow([name, r.kind, compare, *cells, f"{r.cpu_s:.3f}"])
        return buffer.getvalue()

    def format_table(self) -> str:
        """The table as aligned text, for the terminal."""
        titles = " ".join(f"{m.upper():>17s}" for m in METRIC_NAMES)
        lines = [f"{'method':16s} {'kind':10s} {'':6s} {titles} {'cpu s':>8s}"]

        def row(label: str, kind: str, compare: str, table: dict, cpu: str) -> str:
            cells = " ".join(
                f"{table[m]['mean']:8.4f} ± {table[m]['std']:6.4f}"
                if m != "psnr"
                else f"{table[m]['mean']:8.2f} ± {table[m]['std']:6.2f}"
                for m in METRIC_NAMES
            )
            return f"{label:16s} {kind:10s} {compare:6s} {cells} {cpu:>8s}"

        lines.append(row("(degraded)", "", "N vs O", self.degraded, ""))
        for name, r in self.methods.items():
            lines.append(row(name, r.kind, "R vs O", r.recovered, f"{r.cpu_s:.1f}"))
        return "\n".join(lines)
