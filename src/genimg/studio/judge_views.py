"""What the Judge page asks: the judge's next trial, and recording an answer.

Answers go to ``RUN/judgements/judgements.jsonl`` of the run whose sample was shown, one JSON
line each (``genimg.evaluate.judgements.RECORD_FIELDS``), appended under an exclusive file
lock: two tabs, or two servers, never interleave or repeat a line, and a line is flushed to
disk before the answer is acknowledged. Which trial a judge is at is read back from those
files, so a restarted server continues where the judge stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

from genimg.errors import UserError
from genimg.evaluate.judgements import JUDGEMENTS_DIR
from genimg.io import exclusive_lock, read_jsonl
from genimg.studio.codec import png_data_url
from genimg.studio.judge_round import JudgeRound
from genimg.studio.workspace import StudioRun

RECORDS_FILE = "judgements.jsonl"
LOCK_FILE = ".judgements.lock"
FORMAT = 1


class Conflict(Exception):
    """A request that disagrees with the recorded state (a trial already answered, out of turn)."""


def new_judge_id() -> str:
    """An anonymous id: random, so it says nothing about the person."""
    return "j" + secrets.token_hex(8)


def records_path(run: StudioRun) -> Path:
    return run.run.path / JUDGEMENTS_DIR / RECORDS_FILE


class JudgeViews:
    def __init__(self, judge_round: JudgeRound) -> None:
        self.round = judge_round

    def answered(self, judge: str) -> set[int]:
        """The trials of this round ``judge`` has answered, in any of the round's runs."""
        done: set[int] = set()
        for run in {r.id: r for r in self.round.runs}.values():
            for record in read_jsonl(records_path(run)):
                if record.get("judge") == judge and record.get("round") == self.round.id:
                    trial = record.get("trial")
                    if isinstance(trial, int):
                        done.add(trial)
        return done

    def next_trial(self, judge: str | None) -> dict[str, Any]:
        """The judge's first unanswered trial (a new judge id when none is given)."""
        judge = judge or new_judge_id()
        done = self.answered(judge)
        k = next((i for i in range(self.round.trials) if i not in done), None)
        reply: dict[str, Any] = {**self.round.describe(), "judge": judge, "answered": len(done)}
        if k is None:
            return {**reply, "trial": None, "done": True}
        trial = self.round.trial(k)
        left, right = self.round.images(trial)
        return {**reply, "trial": k, "done": False, "left": png_data_url(left), "right": png_data_url(right)}

    def answer(self, judge: str, k: int, choice: str | None, response_ms: int) -> dict[str, Any]:
        """Record the judge's answer to trial k (``choice`` None: the time ran out), then reply
        with the next trial. Refuses an answer out of turn or a second answer to one trial."""
        if not 0 <= k < self.round.trials:
            raise UserError(f"trial must lie in 0..{self.round.trials - 1}, got {k}")
        if choice is None and self.round.time_limit_s is None:
            raise UserError("choice must be left or right (this round has no time limit)")
        trial = self.round.trial(k)
        record = {
            "format": FORMAT,
            "run": trial.run.name,
            "round": self.round.id,
            "seed": self.round.seed,
            "trial": k,
            "judge": judge,
            **trial.shown(self.round.pool_name(trial.run)),
            "choice": choice,
            "response_ms": response_ms,
            "time_limit_s": self.round.time_limit_s,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
        }
        path = records_path(trial.run)
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(path.parent / LOCK_FILE):
            done = self.answered(judge)
            if k in done:
                raise Conflict(f"trial {k} was already answered by this judge; load the next one")
            expected = next((i for i in range(self.round.trials) if i not in done), None)
            if k != expected:
                raise Conflict(f"trial {k} is out of turn; this judge's next trial is {expected}")
            _append_line(path, record)
        return self.next_trial(judge)


def _append_line(path: Path, record: dict[str, Any]) -> None:
    """One whole line in one write to a file opened for appending, flushed to disk."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
