"""The Judge page's trials: which real and which generated image each trial shows, drawn with a seed.

A round is ``trials`` trials over the studio's runs, the same sequence for every judge (so
judges are comparable, as in HYPE, Zhou et al. 2019). Trial k shows a real test image of a
run and one of that run's samples, left and right in an order drawn for that trial. Within
a round no image is shown twice: the runs take turns in a seeded order, each run's real
images are a seeded permutation of its test split, and its samples are a pool of as many
images as it has trials, drawn once with the seed.

The pool is kept in ``RUN/judgements/pool-<seed>-<n>.npy`` (written atomically): a restarted
server shows the same images even if the run's weights changed meanwhile, and a record's
``{"pool": ..., "index": ...}`` always names the image that was shown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genimg.evaluate.judgements import JUDGEMENTS_DIR
from genimg.io import atomic_path, exclusive_lock
from genimg.studio.workspace import StudioRun


@dataclass(frozen=True)
class Trial:
    index: int
    run: StudioRun
    real: int  # index into the run's test split
    generated: int  # index into the run's pool
    real_left: bool

    def shown(self, pool_name: str) -> dict[str, dict[str, Any]]:
        """The record's ``left`` and ``right``: where each image shown came from."""
        real = {"source": "real", "split": "test", "index": self.real}
        generated = {"source": "generated", "pool": pool_name, "index": self.generated}
        return {"left": real, "right": generated} if self.real_left else {"left": generated, "right": real}


class JudgeRound:
    def __init__(self, runs: list[StudioRun], seed: int, trials: int, time_limit_s: float | None) -> None:
        self.runs = runs
        self.seed = seed
        self.trials = trials
        self.time_limit_s = time_limit_s
        names = "\n".join(str(r.run.path.resolve()) for r in runs)
        self.id = f"seed{seed}-n{trials}-{hashlib.sha256(names.encode()).hexdigest()[:8]}"
        self._plan: list[Trial] | None = None
        self._pools: dict[str, torch.Tensor] = {}

    # --- the plan ------------------------------------------------------------------------------
    def plan(self) -> list[Trial]:
        if self._plan is None:
            self._plan = self._draw_plan()
        return self._plan

    def _draw_plan(self) -> list[Trial]:
        generator = torch.Generator().manual_seed(self.seed)
        turns = []
        while len(turns) < self.trials:  # every run once per cycle, each cycle in a seeded order
            turns += torch.randperm(len(self.runs), generator=generator).tolist()
        turns = turns[: self.trials]
        reals = {r.id: torch.randperm(len(r.test), generator=generator).tolist() for r in self.runs}
        orders = torch.randint(0, 2, (self.trials,), generator=generator).tolist()
        used: dict[str, int] = {r.id: 0 for r in self.runs}
        plan = []
        for k, turn in enumerate(turns):
            run = self.runs[turn]
            j = used[run.id]
            used[run.id] += 1
            real = reals[run.id][j % len(reals[run.id])]
            plan.append(Trial(k, run, real, j, bool(orders[k])))
        return plan

    def trial(self, k: int) -> Trial:
        return self.plan()[k]

    def pool_size(self, run: StudioRun) -> int:
        return sum(1 for t in self.plan() if t.run.id == run.id)

    # --- the generated images ------------------------------------------------------------------
    def pool_name(self, run: StudioRun) -> str:
        return f"pool-seed{self.seed}-n{self.pool_size(run)}.npy"

    def pool(self, run: StudioRun) -> torch.Tensor:
        """The run's samples for this round: read back, or drawn once with the seed and kept."""
        if run.id not in self._pools:
            path = run.run.path / JUDGEMENTS_DIR / self.pool_name(run)
            n = self.pool_size(run)
            path.parent.mkdir(parents=True, exist_ok=True)
            with exclusive_lock(path.parent / ".pool.lock"):  # another server may be drawing it now
                images = _read_pool(path, n, run.image_shape)
                if images is None:
                    images = self._draw_pool(run, n)
                    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                        np.save(handle, images.numpy())
            self._pools[run.id] = images
        return self._pools[run.id]

    def _draw_pool(self, run: StudioRun, n: int) -> torch.Tensor:
        """n samples with the model's fast sampling options, reproducible from the seed."""
        model = run.model
        generator = torch.Generator().manual_seed(self.seed)
        labels = torch.randint(0, model.spec.num_classes, (n,), generator=generator) if model.conditional else None
        with torch.random.fork_rng(devices=[]):  # a family that draws from the global RNG is seeded too
            torch.manual_seed(self.seed)
            images = model.sample(n, labels, generator=generator, progress=False, **model.monitoring_sample_options())
        return images.detach().float().cpu().clamp(0, 1)

    def images(self, trial: Trial) -> tuple[torch.Tensor, torch.Tensor]:
        """The (left, right) images of a trial."""
        real = trial.run.test.images[trial.real]
        generated = self.pool(trial.run)[trial.generated]
        return (real, generated) if trial.real_left else (generated, real)

    def describe(self) -> dict[str, Any]:
        return {
            "round": self.id,
            "seed": self.seed,
            "trials": self.trials,
            "time_limit_s": self.time_limit_s,
            "runs": [r.id for r in self.runs],
        }


def _read_pool(path: Path, n: int, shape: tuple[int, int, int]) -> torch.Tensor | None:
    """The kept pool, or None when there is none or it does not fit (a torn or foreign file)."""
    if not path.exists():
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if array.shape != (n, *shape) or not np.isfinite(array).all():
        return None
    return torch.from_numpy(array.astype(np.float32))
