"""What the Judge and Results pages ask: a judge's next trial, recording an answer, and the
teacher's live view of the round.

Answers go to the store of the run whose sample was shown (``RUN/judgements/judgements.sqlite``,
``genimg.evaluate.judgements.JudgementStore``), each committed to disk before it is
acknowledged. Which trial a judge is at is read back from the stores through their unique
index on (round, judge, trial): one lookup per run, whatever the number of answers already
recorded, so a class's hundredth answer costs what its first did, and a restarted server
continues where each judge stopped. The same index refuses a second answer to a trial (a
double click, a retried request, two tabs) in the database itself.

None of this takes the studio's ``compute`` lock: a judge's click never waits behind an SDEdit
or DPS request from the Draw page. The round's images are drawn and encoded once
(``JudgeRound.prepare``); until they are, the first judges wait for that draw alone.

The Results page reads the same stores: per run the fooling rate with its Wilson interval and
the staircase threshold (``JudgementStore.score``, as ``genimg judge-score`` prints them), per
judge of this round their progress, and every answer as CSV.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import threading
from typing import Any

from genimg.errors import UserError
from genimg.evaluate.judgements import JudgementStore, export_text
from genimg.studio.judge_round import JudgeRound, Trial

FORMAT = 1
Answers = dict[str, list[tuple[int, str | None]]]  # per run id: (trial, picked) of a judge's answers


class Conflict(Exception):
    """A request that disagrees with the recorded state (a trial already answered, out of turn)."""


def new_judge_id() -> str:
    """An anonymous id: random, so it says nothing about the person."""
    return "j" + secrets.token_hex(8)


class JudgeViews:
    """The round's stores, one per run (opened, and their JSONL imported, at start-up)."""

    def __init__(self, judge_round: JudgeRound, compute: threading.Lock | None = None) -> None:
        self.round = judge_round
        self.compute = compute  # taken by the pool draw only
        self.runs = list({r.id: r for r in judge_round.runs}.values())
        self.stores = {r.id: JudgementStore.open(r.run.path) for r in self.runs}

    # --- the judge -------------------------------------------------------------------------------
    def answers(self, judge: str) -> Answers:
        """Per run: (trial, picked) of each answer ``judge`` gave in this round, in trial order."""
        return {run_id: store.answers_of(self.round.id, judge) for run_id, store in self.stores.items()}

    def exposure_ms(self, trial: Trial, answers: Answers) -> int | None:
        """How long trial's pair is shown to this judge (the staircase: from their answers to its run)."""
        return self.round.exposure.next_ms([picked == "real" for _, picked in answers[trial.run.id]])

    def next_trial(self, judge: str | None, answers: Answers | None = None) -> dict[str, Any]:
        """The judge's first unanswered trial (a new judge id when none is given)."""
        judge = judge or new_judge_id()
        answers = self.answers(judge) if answers is None else answers
        done = {trial for rows in answers.values() for trial, _ in rows}
        k = next((i for i in range(self.round.trials) if i not in done), None)
        reply: dict[str, Any] = {**self.round.describe(), "judge": judge, "answered": len(done)}
        if k is None:
            return {**reply, "trial": None, "done": True}
        trial = self.round.trial(k)
        left, right = self.round.pair(k, self.compute)
        reply["ready"] = True
        exposure = self.exposure_ms(trial, answers)
        return {**reply, "trial": k, "done": False, "left": left, "right": right, "exposure_ms": exposure}

    def answer(self, judge: str, k: int, choice: str | None, response_ms: int) -> dict[str, Any]:
        """Record the judge's answer to trial k (``choice`` None: the time ran out), then reply
        with the next trial. Refuses an answer out of turn or a second answer to one trial."""
        if not 0 <= k < self.round.trials:
            raise UserError(f"trial must lie in 0..{self.round.trials - 1}, got {k}")
        if choice is None and self.round.time_limit_s is None:
            raise UserError("choice must be left or right (this round has no time limit)")
        answers = self.answers(judge)
        done = {trial for rows in answers.values() for trial, _ in rows}
        if k in done:
            raise Conflict(f"trial {k} was already answered by this judge; load the next one")
        expected = next((i for i in range(self.round.trials) if i not in done), None)
        if k != expected:
            raise Conflict(f"trial {k} is out of turn; this judge's next trial is {expected}")
        trial = self.round.trial(k)
        shown = trial.shown(self.round.pool_name(trial.run))
        record = {
            "format": FORMAT,
            "run": trial.run.name,
            "round": self.round.id,
            "seed": self.round.seed,
            "trial": k,
            "judge": judge,
            **shown,
            "choice": choice,
            "response_ms": response_ms,
            "time_limit_s": self.round.time_limit_s,
            "exposure_ms": self.exposure_ms(trial, answers),
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
        }
        # Two requests for the same trial may both pass the check above; the unique index lets one in.
        if not self.stores[trial.run.id].add(record):
            raise Conflict(f"trial {k} was already answered by this judge; load the next one")
        picked = None if choice is None else shown[choice]["source"]
        answers[trial.run.id] = [*answers[trial.run.id], (k, picked)]
        return self.next_trial(judge, answers)

    # --- the teacher -----------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        """Every run's score over all its answers, and each judge's progress in this round."""
        runs = []
        for run in self.runs:
            score = self.stores[run.id].score()
            if score is not None:  # JSON has no NaN: a rate over no answers is null
                score = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in score.items()}
            runs.append({"id": run.id, "name": run.name, "score": score})
        judges: dict[str, dict[str, Any]] = {}
        for store in self.stores.values():
            for row in store.progress(self.round.id):
                mine = judges.setdefault(
                    row["judge"], {"judge": row["judge"], "answers": 0, "answered": 0, "fooled": 0, "timeouts": 0}
                )
                for key in ("answers", "answered", "fooled", "timeouts"):
                    mine[key] += row[key]
                mine["last"] = max(filter(None, (mine.get("last"), row["last"])), default=None)
        progress = sorted(judges.values(), key=lambda j: (-j["answers"], j["judge"]))
        return {
            **self.round.describe(),
            "scores": runs,
            "judges": progress,
            "round_answers": sum(j["answers"] for j in progress),
            "answers": sum(store.count() for store in self.stores.values()),
        }

    def csv(self) -> str:
        """Every answer in the round's stores (all rounds), one CSV row each."""
        return export_text((r for store in self.stores.values() for r in store.records()), "csv")
