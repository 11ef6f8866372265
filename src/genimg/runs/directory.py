"""Run directories: the unit of record. Everything a report shows is read from here.

    RUN/
      config.yaml              the resolved config (family, data, train, model)
      spec.json                image shape, classes and grey levels the model was built for
      metrics.jsonl            one JSON line per epoch: train/val/test losses, fid, time
      checkpoints/last/        model.safetensors, ema.safetensors, state.pt (optimisers, RNG, counters)
      checkpoints/best/        the weights selected by val loss or FID
      checkpoints/*/manifest.json  each file's SHA-256, the epoch and step (runs/checkpoint.py)
      .lock                    held by the process training the run, with its pid (runs/lock.py)
      samples/epoch_NNNN.png   sample grids during training (fixed seed)
      samples.png              64 samples from the kept weights
      reconstructions.png      test images (odd rows) above their reconstructions (even rows)
      summary.json             best epoch, final scores, likelihoods, timings, parameter count
      eval/metrics.json        written by `genimg evaluate`

Every reader below turns a damaged file into one UserError naming the file and the fix.
``RunDir.open("pretrained:NAME")`` opens the checked cache copy of a model shipped inside the
package (runs/pretrained_copy.py): every command that takes a run takes a shipped model too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genimg.config.run_config import RunConfig, load_config
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.io import read_json, read_jsonl
from genimg.runs.pretrained_copy import resolve_run_path


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """The run directory at ``path``, or the cache copy of the shipped model ``pretrained:NAME``."""
        run = cls(resolve_run_path(path))
        if not run.config_file.exists():
            raise UserError(
                f"{path} is not a genimg run directory (no config.yaml); pass the directory `genimg train` printed"
            )
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
        fix = "it records the shape and classes the model was built for; restore it from a copy, or retrain"
        data = read_json(self.spec_file, fix)
        try:
            spec = DataSpec.from_dict(data)
            shape_ok = len(spec.image_shape) == 3 and all(isinstance(d, int) and d > 0 for d in spec.image_shape)
            levels_ok = spec.levels is None or (isinstance(spec.levels, int) and spec.levels >= 2)
            if not (shape_ok and levels_ok and spec.num_classes >= 1):
                raise ValueError
            return spec
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserError(f"{self.spec_file} does not describe a dataset; {fix}") from None

    def metrics(self) -> list[dict[str, Any]]:
        fix = "restore it from a copy, or remove the damaged line (the run's checkpoints are unaffected)"
        records = read_jsonl(self.metrics_file, fix)
        for number, record in enumerate(records, 1):
            epoch = record.get("epoch")
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
                raise UserError(f"{self.metrics_file} line {number} has no epoch number; {fix}")
        return records

    def summary(self) -> dict[str, Any]:
        if not self.summary_file.exists():
            return {}
        fix = f"delete it and run `genimg train --resume {self.path}`, which writes it again"
        data = read_json(self.summary_file, fix)
        if not isinstance(data, dict):
            raise UserError(f"{self.summary_file} is not a JSON object; {fix}")
        return data

    def evaluation(self) -> dict[str, Any]:
        f = self.eval_dir / "metrics.json"
        if not f.exists():
            return {}
        fix = f"delete it and run `genimg evaluate {self.path}` again"
        data = read_json(f, fix)
        if not isinstance(data, dict):
            raise UserError(f"{f} is not a JSON object; {fix}")
        return data

    def status(self) -> str:
        """running, finished, failed, interrupted, diverged (runs/status.py); "unknown" without a record."""
        summary = self.summary()
        return summary.get("status") or ("finished" if summary.get("finished") else "unknown")

    def is_finished(self) -> bool:
        return self.status() == "finished"
