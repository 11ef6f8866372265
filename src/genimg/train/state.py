"""What a training run carries between epochs and hands back, and how it is picked up again.

``TrainState`` holds the counters that, with the weights, optimisers and RNG states, make a resume
exact. ``restore_training`` loads a run's last checkpoint, exactly: weights, EMA, optimisers,
gradient scalers, counters and every rank's RNG state, each file checked (runs/checkpoint.py);
``trim_metrics`` cuts metrics.jsonl back to the epochs that checkpoint had trained (a line torn
by a kill goes with them). Anything damaged is one UserError naming the file and what to do;
nothing is written before all of it has been read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from genimg.errors import UserError
from genimg.io import jsonl_text, write_text
from genimg.models.base import GenerativeModel
from genimg.rng import set_rng_state
from genimg.runs.checkpoint import load_state, load_weights
from genimg.runs.directory import RunDir


@dataclass
class TrainState:
    """Counters that, with the weights, optimisers and RNG states, make a resume exact."""

    epoch: int = 0  # epochs completed
    step: int = 0
    best_score: float = math.inf
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    elapsed_s: float = 0.0  # wall time spent training, summed over resumes
    cpu_s: float = 0.0  # process CPU time, summed over resumes
    # The whole loop's time (steps, evaluations and grids during training): what train.budget counts.
    loop_cpu_s: float = 0.0
    loop_wall_s: float = 0.0
    stopped_by_budget: bool = False
    stopped_early: bool = False
    nonfinite_skipped: int = 0  # training steps skipped for a non-finite loss or gradient (train.skip_nonfinite)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    run: RunDir
    model: GenerativeModel  # the kept weights (EMA where there is one), in eval mode
    summary: dict[str, Any]


def restore_training(session: Any, run: RunDir) -> None:
    """Load ``run``'s last checkpoint into ``session`` (a ``TrainingSession``)."""
    last = run.checkpoint("last")
    hint = (
        f"the run cannot continue from this checkpoint; start it again (`rm -r {run.path}`, then the same "
        f"`genimg train` command), or train a copy: `genimg train --config {run.config_file} train.run_name=NEW`"
    )
    load_weights(session.model, last / "model.safetensors", hint)
    if session.ema is not None:
        load_weights(session.ema.module, last / "ema.safetensors", hint)
    saved = load_state(last / "state.pt", hint)
    try:
        for name, optimizer in session.optimizers.items():
            optimizer.load_state_dict(saved["optimizers"][name])
        session.state = TrainState(**saved["trainer"])
        rng = saved["rng"][session.info.rank] if isinstance(saved["rng"], list) else saved["rng"]
        set_rng_state(rng, {"shuffle": session.shuffle})
        session.stepper.load_state_dict(saved.get("scalers", {}))
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
        raise UserError(
            f"checkpoint file {last / 'state.pt'} does not hold this run's training state ({e}); {hint}"
        ) from None


def trim_metrics(run: RunDir, epochs: int) -> None:
    """Keep the metrics of the ``epochs`` the checkpoint holds, once each; epochs logged after it
    are trained again. A log missing any of those epochs cannot be rebuilt: refused."""
    records = run.metrics()
    kept = {r["epoch"]: r for r in records if r["epoch"] <= epochs}  # the latest line of an epoch wins
    missing = [e for e in range(1, epochs + 1) if e not in kept]
    if missing:
        raise UserError(
            f"{run.metrics_file} lacks epoch {missing[0]}, which {run.checkpoint('last')} has trained (cut short or "
            f"edited); restore it from a copy, or start the run again (`rm -r {run.path}`)"
        )
    text = jsonl_text([kept[e] for e in range(1, epochs + 1)])
    if not run.metrics_file.exists() or run.metrics_file.read_bytes() != text.encode():
        write_text(run.metrics_file, text)
