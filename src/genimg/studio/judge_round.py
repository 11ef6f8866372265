"""The Judge page's trials: which real and which generated image each trial shows, drawn with a
seed, and how long each pair stays on screen.

A round is ``trials`` trials over the studio's runs, the same sequence for every judge (so
judges are comparable, as in HYPE, Zhou et al. 2019). Trial k shows a real test image of a
run and one of that run's samples, left and right in an order drawn for that trial. Within
a round no image is shown twice: the runs take turns in a seeded order, each run's real
images are a seeded permutation of its test split, and its samples are a pool of as many
images as it has trials, drawn once with the seed.

The pool is kept in ``RUN/judgements/pool-<seed>-<n>.npy`` (written atomically): a restarted
server shows the same images even if the run's weights changed meanwhile, and a record's
``{"pool": ..., "index": ...}`` always names the image that was shown.

**Drawn once, before anyone waits on it.** ``prepare`` draws (or reads back) every pool and
encodes every trial's pair as PNG once; the server starts it when it starts, and a judge who
arrives before it is done waits for that one draw only (a lock of the round's own, never the
studio's ``compute`` lock, which only the draw itself takes). From then on a trial costs no
model call and no encoding: answering is pure I/O.

**Exposure** (HYPE's time-limited mode, ``--exposure-ms``): none (the pair stays until
answered), a fixed time, or a staircase per judge and run (HYPE_time): it starts at 500 ms,
three correct answers in a row shorten the next exposure by 50 ms, a mistake (or a time-out)
lengthens it by 50 ms, between 100 and 1000 ms. Three-down/one-up converges where a judge is
right 79.4% of the time (Levitt 1971); one-down/one-up would converge at 50%, which in a
two-alternative choice is guessing. The staircase is replayed from the judge's recorded
answers, so a restarted server continues it exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from genimg.errors import UserError
from genimg.evaluate.judgements import JUDGEMENTS_DIR
from genimg.io import atomic_path, exclusive_lock
from genimg.studio.codec import png_data_url
from genimg.studio.workspace import StudioRun

STAIRCASE = "staircase"
ExposureOption = int | Literal["staircase"] | None  # what --exposure-ms takes


@dataclass(frozen=True)
class Exposure:
    """How long a trial's pair stays on screen: until answered, ``fixed_ms``, or a staircase."""

    fixed_ms: int | None = None
    staircase: bool = False
    start_ms: int = 500
    step_ms: int = 50
    shortest_ms: int = 100
    longest_ms: int = 1000
    down_after: int = 3  # correct answers in a row that shorten the exposure

    @classmethod
    def from_option(cls, option: ExposureOption) -> Exposure:
        if option is None:
            return cls()
        if option == STAIRCASE:
            return cls(staircase=True)
        if isinstance(option, bool) or not isinstance(option, int) or not 10 <= option <= 60_000:
            raise UserError(f"--exposure-ms must be a number of milliseconds in 10..60000 or 'staircase', got {option}")
        return cls(fixed_ms=option)

    @property
    def tag(self) -> str:
        """What the round's id says about the exposure ('' when unlimited, so old ids stay valid)."""
        return "-stair" if self.staircase else (f"-e{self.fixed_ms}" if self.fixed_ms else "")

    def next_ms(self, correct: list[bool]) -> int | None:
        """The exposure of a judge's next trial of a run, given whether each earlier answer of
        theirs to that run found the real image (in trial order)."""
        if not self.staircase:
            return self.fixed_ms
        exposure, streak = self.start_ms, 0
        for right in correct:
            if right:
                streak += 1
                if streak == self.down_after:
                    exposure, streak = max(self.shortest_ms, exposure - self.step_ms), 0
            else:
                exposure, streak = min(self.longest_ms, exposure + self.step_ms), 0
        return exposure

    def describe(self) -> dict[str, Any]:
        mode = STAIRCASE if self.staircase else ("fixed" if self.fixed_ms else "none")
        reply: dict[str, Any] = {"mode": mode, "ms": self.fixed_ms}
        if self.staircase:
            reply.update(start_ms=self.start_ms, step_ms=self.step_ms, range_ms=[self.shortest_ms, self.longest_ms])
        return reply


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
    def __init__(
        self,
        runs: list[StudioRun],
        seed: int,
        trials: int,
        time_limit_s: float | None,
        exposure: Exposure | None = None,
    ) -> None:
        self.runs = runs
        self.seed = seed
        self.trials = trials
        self.time_limit_s = time_limit_s
        self.exposure = exposure or Exposure()
        names = "\n".join(str(r.run.path.resolve()) for r in runs)
        self.id = f"seed{seed}-n{trials}{self.exposure.tag}-{hashlib.sha256(names.encode()).hexdigest()[:8]}"
        self._plan: list[Trial] | None = None
        self._pools: dict[str, torch.Tensor] = {}
        self._pool_sizes: dict[str, int] = {}
        self._pairs: list[tuple[str, str]] | None = None  # each trial's (left, right) as PNG data URLs
        self._preparing = threading.Lock()

    # --- the plan ------------------------------------------------------------------------------
    def plan(self) -> list[Trial]:
        if self._plan is None:
            self._plan = self._draw_plan()
        return self._plan

    def _draw_plan(self) -> list[Trial]:
        generator = torch.Generator().manual_seed(self.seed)
        turns: list[int] = []
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
        if run.id not in self._pool_sizes:
            self._pool_sizes[run.id] = sum(1 for t in self.plan() if t.run.id == run.id)
        return self._pool_sizes[run.id]

    # --- the generated images ------------------------------------------------------------------
    def pool_name(self, run: StudioRun) -> str:
        return f"pool-seed{self.seed}-n{self.pool_size(run)}.npy"

    def pool(self, run: StudioRun, compute: threading.Lock | None = None) -> torch.Tensor:
        """The run's samples for this round: read back, or drawn once with the seed and kept
        (the draw under ``compute``, the lock every model call of the studio takes)."""
        if run.id not in self._pools:
            path = run.run.path / JUDGEMENTS_DIR / self.pool_name(run)
            n = self.pool_size(run)
            path.parent.mkdir(parents=True, exist_ok=True)
            with exclusive_lock(path.parent / ".pool.lock"):  # another server may be drawing it now
                images = _read_pool(path, n, run.image_shape)
                if images is None:
                    with compute if compute is not None else contextlib.nullcontext():
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

    # --- ready to serve ------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._pairs is not None

    def prepare(self, compute: threading.Lock | None = None) -> None:
        """Draw every pool and encode every trial's pair, once; a second caller waits for the
        first to finish (and then returns at once)."""
        if self._pairs is not None:
            return
        with self._preparing:
            if self._pairs is not None:
                return
            for run in {t.run.id: t.run for t in self.plan()}.values():
                self.pool(run, compute)
            pairs = []
            for trial in self.plan():
                left, right = self.images(trial)
                pairs.append((png_data_url(left), png_data_url(right)))
            self._pairs = pairs

    def pair(self, k: int, compute: threading.Lock | None = None) -> tuple[str, str]:
        """Trial k's (left, right) images as PNG data URLs."""
        self.prepare(compute)
        assert self._pairs is not None
        return self._pairs[k]

    def describe(self) -> dict[str, Any]:
        return {
            "round": self.id,
            "seed": self.seed,
            "trials": self.trials,
            "time_limit_s": self.time_limit_s,
            "exposure": self.exposure.describe(),
            "runs": [r.id for r in self.runs],
            "ready": self.ready,
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
