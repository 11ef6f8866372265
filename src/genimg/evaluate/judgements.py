"""Human judgement of realism: the fooling rate of a model in blind two-alternative trials.

``genimg studio``'s judge page shows a real test image and one of the model's samples side by
side in random order, and the person picks the one they think is real (HYPE, Zhou et al.
2019). Each answer is one JSON line in ``RUN/judgements/*.jsonl`` (the studio appends them
under a file lock); ``RECORD_FIELDS`` lists what a line holds. The score read back here:

    fooling rate = (trials where the generated image was picked as real) / (answered trials)

50% means people cannot tell the model's images from real ones; 0% means they always can.
Trials that ran out of time (``choice`` null) are counted apart, not as answers. The 95%
confidence interval is Wilson's score interval (Wilson 1927), which stays inside [0, 1] and
keeps close to its nominal coverage for the few dozen trials a class collects, where the
normal-approximation (Wald) interval collapses to a point at 0% or 100%.

Which image was picked is read from what was shown (``left``/``right`` each name their
``source``, real or generated) and the ``choice``, not from a stored verdict, so a line
cannot contradict itself. A repeated (judge, round, trial) counts once: the first answer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genimg.io import read_jsonl

JUDGEMENTS_DIR = "judgements"  # under the run directory
Z_95 = 1.959963984540054  # the 0.975 quantile of the standard normal
INTERVAL = "Wilson score interval, 95%"
CHOICES = ("left", "right")
SOURCES = ("real", "generated")

# What every line of RUN/judgements/*.jsonl holds (the studio writes them; tests check them).
RECORD_FIELDS = {
    "format": "1",
    "run": "the run whose sample was shown",
    "round": "seed and runs the trials were drawn from: trials of one round are one sequence",
    "seed": "the seed the trials were drawn with",
    "trial": "the trial's index in its round",
    "judge": "an anonymous id the judge's browser keeps",
    "left": "the image on the left: {source: real, split, index} or {source: generated, pool, index}",
    "right": "the image on the right, likewise",
    "choice": "left, right, or null when the time limit ran out",
    "response_ms": "milliseconds from showing the pair to the answer",
    "time_limit_s": "the time limit per trial, or null",
    "time": "when the answer arrived (UTC, ISO 8601)",
}


def judgement_files(run_path: str | Path) -> list[Path]:
    """The judgement files of a run directory, sorted; empty when there are none."""
    directory = Path(run_path) / JUDGEMENTS_DIR
    return sorted(directory.glob("*.jsonl")) if directory.is_dir() else []


def picked_source(record: dict[str, Any]) -> str | None:
    """What the judge picked as real ("real" or "generated"), or None for a timed-out or
    malformed record."""
    choice = record.get("choice")
    if choice not in CHOICES:
        return None
    shown = record.get(choice)
    source = shown.get("source") if isinstance(shown, dict) else None
    return source if source in SOURCES else None


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def judge_score(run_path: str | Path) -> dict[str, Any] | None:
    """The fooling rate of the run's model over every judgement recorded for it, with its 95%
    Wilson interval; None when the run has no judgements.

    Keys: ``trials`` (answered), ``fooled`` (generated picked as real), ``fooling_rate``,
    ``ci95`` ([low, high]), ``interval`` (its name), ``timeouts``, ``judges`` (distinct ids),
    ``accuracy`` (1 - fooling rate: how often the real image was found), ``files``."""
    files = judgement_files(run_path)
    seen: set[tuple[Any, Any, Any]] = set()
    answered = fooled = timeouts = 0
    judges: set[str] = set()
    for path in files:
        for record in read_jsonl(path):
            key = (record.get("judge"), record.get("round"), record.get("trial"))
            if key in seen:
                continue
            seen.add(key)
            if record.get("choice") is None:
                timeouts += 1
                continue
            source = picked_source(record)
            if source is None:
                continue  # not a judgement this format knows; skipped rather than guessed
            answered += 1
            fooled += source == "generated"
            judges.add(str(record.get("judge")))
    if not seen:
        return None
    low, high = wilson_interval(fooled, answered)
    rate = fooled / answered if answered else math.nan
    return {
        "trials": answered,
        "fooled": fooled,
        "fooling_rate": rate,
        "accuracy": 1 - rate if answered else math.nan,
        "ci95": [low, high],
        "interval": INTERVAL,
        "timeouts": timeouts,
        "judges": len(judges),
        "files": [str(p) for p in files],
    }
