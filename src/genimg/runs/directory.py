"""Run directories: the unit of record. Everything a report shows is read from here.

    RUN/
      config.yaml              the resolved config (family, data, train, model)
      spec.json                image shape, classes and grey levels the model was built for
      metrics.jsonl            one JSON line per epoch: train/val/test losses, fid, time
      checkpoints/last/        model.safetensors, ema.safetensors, state.pt (optimisers, RNG, counters)
      checkpoints/best/        the weights selected by val loss or FID
      samples/epoch_NNNN.png   sample grids during training (fixed seed)
      samples.png              64 samples from the kept weights
      reconstructions.png      test images (odd rows) above their reconstructions (even rows)
      summary.json             best epoch, final scores, likelihoods, timings, parameter count
      eval/metrics.json        written by `genimg evaluate`
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genimg.config.run_config import RunConfig, load_config
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.io import read_jsonl


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(Path(path))
        if not run.config_file.exists():
            raise UserError(f"{path} is not a genimg run directory (no config.yaml); pass the directory `genimg train` printed")
        return run

    # paths
    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    def checkpoint(self, which: str = "best") -> Path:
        return self.path / "checkpoints" / which

    # contents
    def config(self) -> RunConfig:
        return load_config(self.config_file)

    def spec(self) -> DataSpec:
        return DataSpec.from_dict(json.loads(self.spec_file.read_text()))

    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_file)

    def summary(self) -> dict[str, Any]:
        return json.loads(self.summary_file.read_text()) if self.summary_file.exists() else {}

    def evaluation(self) -> dict[str, Any]:
        f = self.eval_dir / "metrics.json"
        return json.loads(f.read_text()) if f.exists() else {}

    def status(self) -> str:
        """running, finished, failed, interrupted, diverged (runs/status.py); "unknown" without a record."""
        summary = self.summary()
        return summary.get("status") or ("finished" if summary.get("finished") else "unknown")

    def is_finished(self) -> bool:
        return self.status() == "finished"
