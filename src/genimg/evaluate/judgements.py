"""Human judgement of realism: the records of blind two-alternative trials, their store, and the
fooling rate and perceptual threshold read back from it.

``genimg studio``'s judge page shows a real test image and one of the model's samples side by
side in random order, and the person picks the one they think is real (HYPE, Zhou et al.
2019). The score:

    fooling rate = (trials where the generated image was picked as real) / (answered trials)

50% means people cannot tell the model's images from real ones; 0% means they always can.
Trials that ran out of time (``choice`` null) are counted apart, not as answers. The 95%
confidence interval is Wilson's score interval (Wilson 1927), which stays inside [0, 1] and
keeps close to its nominal coverage for the few dozen trials a class collects, where the
normal-approximation (Wald) interval collapses to a point at 0% or 100%.

**The store.** Each run directory keeps its answers in ``RUN/judgements/judgements.sqlite``
(stdlib ``sqlite3``; WAL, so readers never wait for the writer, and ``synchronous=FULL``, so a
committed answer survives a kill or a power cut), one row per answer (``RECORD_FIELDS``). A
unique index on (round, judge, trial) is both the rule that no trial is ever recorded twice
(a double click or a retried request is refused by the database itself, whichever server or
thread sent it) and the index that finds a judge's answers without reading anyone else's.
``JSONL`` files in the same directory (the studio's format before the store, and exports)
are imported once, on the store's first use, and again only if they change; the first answer
to a (round, judge, trial) wins, as it always did. ``export_text`` writes the rows back out as
JSON lines or CSV (``genimg judge-score RUN --export jsonl|csv``).

Which image was picked is derived by the database from what was shown (``left``/``right`` each
name their ``source``, real or generated) and the ``choice``, never stored as a verdict, so a
row cannot contradict itself.

**HYPE's time-limited mode.** Where pairs were shown for a limited time (``exposure_ms``), a
staircase per judge and run moves the exposure down after correct answers and up after
mistakes; the exposure it settles at is the judge's perceptual threshold, and a run's is the
mean over its judges (HYPE_time). ``staircase_threshold`` estimates it from the exposures the
rows record, so it needs no knowledge of the rule that chose them.

Longer than 400 lines because the record, its store and the scores read from it are one schema:
split, a reader would open three files to follow one column from the judge's click to the score.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import statistics
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from genimg.errors import UserError
from genimg.io import jsonl_text, read_jsonl

JUDGEMENTS_DIR = "judgements"  # under the run directory
STORE_FILE = "judgements.sqlite"
Z_95 = 1.959963984540054  # the 0.975 quantile of the standard normal
INTERVAL = "Wilson score interval, 95%"
CHOICES = ("left", "right")
SOURCES = ("real", "generated")
ExportFormat = Literal["jsonl", "csv"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv")

# What every answer holds (a row of the store, a line of a JSONL export; tests check them).
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
    "exposure_ms": "how long the pair stayed on screen (HYPE's time-limited mode), or null: until answered",
    "time": "when the answer arrived (UTC, ISO 8601)",
}
CSV_COLUMNS = [
    "run", "round", "seed", "trial", "judge", "left_source", "left_index", "right_source", "right_index",
    "choice", "picked", "response_ms", "time_limit_s", "exposure_ms", "time",
]  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (
    answer INTEGER PRIMARY KEY,  -- the order answers arrived in
    round TEXT NOT NULL,
    judge TEXT NOT NULL,
    trial INTEGER NOT NULL,
    run TEXT,
    seed INTEGER,
    left_shown TEXT NOT NULL,    -- JSON: {source, split or pool, index}
    right_shown TEXT NOT NULL,
    choice TEXT,                 -- left, right, or NULL when the time ran out
    response_ms INTEGER,
    time_limit_s REAL,
    exposure_ms INTEGER,
    time TEXT,
    format TEXT,
    picked TEXT GENERATED ALWAYS AS (
        CASE choice
            WHEN 'left' THEN json_extract(left_shown, '$.source')
            WHEN 'right' THEN json_extract(right_shown, '$.source')
        END
    ) STORED
);
CREATE UNIQUE INDEX IF NOT EXISTS one_answer_per_trial ON judgements (round, judge, trial);
CREATE TABLE IF NOT EXISTS imported (file TEXT PRIMARY KEY, bytes INTEGER NOT NULL);
"""
COLUMNS = (
    "round", "judge", "trial", "run", "seed", "left_shown", "right_shown", "choice", "response_ms",
    "time_limit_s", "exposure_ms", "time", "format",
)  # fmt: skip
INSERT_OR_IGNORE = f"INSERT OR IGNORE INTO judgements ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
ANSWERED = "picked IN ('real', 'generated')"


def judgements_dir(run_path: str | Path) -> Path:
    return Path(run_path) / JUDGEMENTS_DIR


def judgement_files(run_path: str | Path) -> list[Path]:
    """The JSONL files of a run directory's judgements, sorted; empty when there are none."""
    directory = judgements_dir(run_path)
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


def staircase_threshold(exposures: list[int]) -> float | None:
    """The exposure (ms) a staircase settled at: the mean of the exposures where it turned (from
    shorter to longer or back), leaving out the first two turns (its way down from the start)
    when there are more than four; None when it never turned (a fixed exposure, or too few trials)."""
    turns: list[int] = []
    direction = 0
    for before, after in zip(exposures, exposures[1:]):
        step = (after > before) - (after < before)
        if step == 0:
            continue
        if direction and step != direction:
            turns.append(before)
        direction = step
    if not turns:
        return None
    kept = turns[2:] if len(turns) > 4 else turns
    return sum(kept) / len(kept)


@dataclass
class _Pending:
    """An answer waiting for its commit."""

    row: tuple[Any, ...]
    accepted: bool = False
    error: Exception | None = None
    done: bool = False


class JudgementStore:
    """The answers of one run directory, in SQLite. Safe to share between threads: writes go
    through one connection under a lock (a waiting writer sleeps on the lock, not in SQLite's
    polling busy handler) and commit in groups, reads through a connection per thread. Other processes (a second
    server, ``genimg judge-score`` while the studio serves) are kept in step by SQLite's locks."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._queue: list[_Pending] = []  # answers waiting for the next commit
        self._queue_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = self._connect()
        with self._write_lock:
            self._writer.executescript(SCHEMA)

    @classmethod
    def open(cls, run_path: str | Path) -> JudgementStore:
        """The store of a run directory (made on first use), with its JSONL files imported."""
        directory = judgements_dir(run_path)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            store = cls(directory / STORE_FILE)
        except (OSError, sqlite3.Error) as e:
            raise UserError(
                f"cannot open the judgements of {run_path} ({directory / STORE_FILE}: {e}); "
                "make the run directory writable"
            ) from None
        store.import_jsonl()
        return store

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")  # a commit is on disk before it returns
        return connection

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._readers_lock:
                self._readers.append(connection)
        return connection

    def close(self) -> None:
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        self._local = threading.local()
        with self._write_lock:
            self._writer.close()

    def __enter__(self) -> JudgementStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------------
    def add(self, record: dict[str, Any]) -> bool:
        """Record one answer, committed to disk when this returns; False (and nothing written)
        when its (round, judge, trial) is already recorded.

        Group commit: answers that arrive while another commit is under way wait for the write
        lock together, and the first to get it commits them all in one transaction (one fsync);
        each returns only once the transaction holding it is committed."""
        row = _row(record)
        if row is None:
            raise ValueError("a judgement needs a round, a judge and an integer trial")
        mine = _Pending(row)
        with self._queue_lock:
            self._queue.append(mine)
        with self._write_lock:
            if not mine.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if mine.error is not None:
            raise mine.error
        return mine.accepted

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                for pending in batch:  # a repeated (round, judge, trial) inserts nothing
                    pending.accepted = self._writer.execute(INSERT_OR_IGNORE, pending.row).rowcount == 1
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
        except Exception as e:
            for pending in batch:
                pending.accepted, pending.error = False, e
        for pending in batch:
            pending.done = True

    def import_jsonl(self) -> int:
        """Import the directory's JSONL files that are new or changed since they were last
        imported (in file and line order; a repeated trial keeps its first answer). Returns
        how many answers were added."""
        files = sorted(self.path.parent.glob("*.jsonl"))
        if not files:
            return 0
        added = 0
        with self._write_lock:
            known = dict(self._writer.execute("SELECT file, bytes FROM imported").fetchall())
            todo = [(f, f.stat().st_size) for f in files if known.get(f.name) != f.stat().st_size]
            if not todo:
                return 0
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                before = self._count(self._writer)
                for path, size in todo:  # the size first: a file growing meanwhile is read again next time
                    rows = [row for row in map(_row, read_jsonl(path)) if row is not None]
                    self._writer.executemany(INSERT_OR_IGNORE, rows)
                    self._writer.execute("INSERT OR REPLACE INTO imported VALUES (?, ?)", (path.name, size))
                added = self._count(self._writer) - before
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
        return added

    def mark_imported(self, path: Path) -> None:
        """Note an export written into the directory as already imported (it holds these rows)."""
        with self._write_lock:
            self._writer.execute("INSERT OR REPLACE INTO imported VALUES (?, ?)", (path.name, path.stat().st_size))

    # --- reading ---------------------------------------------------------------------------------
    @staticmethod
    def _count(connection: sqlite3.Connection) -> int:
        return int(connection.execute("SELECT COUNT(*) FROM judgements").fetchone()[0])

    def count(self) -> int:
        return self._count(self._reader())

    def answers_of(self, round_id: str, judge: str) -> list[tuple[int, str | None]]:
        """(trial, picked) of each answer ``judge`` gave in ``round_id``, in trial order: one
        lookup in the unique index, whatever the number of other answers."""
        rows = self._reader().execute(
            "SELECT trial, picked FROM judgements WHERE round = ? AND judge = ? ORDER BY trial", (round_id, judge)
        )
        return [(int(trial), picked) for trial, picked in rows]

    def progress(self, round_id: str) -> list[dict[str, Any]]:
        """Per judge of ``round_id``: answers, fooled, timeouts, the time of the last answer."""
        rows = self._reader().execute(
            f"SELECT judge, COUNT(*), SUM(picked = 'generated'), SUM({ANSWERED}), SUM(choice IS NULL), MAX(time) "
            "FROM judgements WHERE round = ? GROUP BY judge",
            (round_id,),
        )
        return [
            {"judge": j, "answers": n, "fooled": f or 0, "answered": a or 0, "timeouts": t or 0, "last": last}
            for j, n, f, a, t, last in rows
        ]

    def records(self) -> list[dict[str, Any]]:
        """Every answer as a record (``RECORD_FIELDS``), in the order they arrived."""
        rows = self._reader().execute(f"SELECT {', '.join(COLUMNS)} FROM judgements ORDER BY answer")
        return [_record(dict(zip(COLUMNS, row))) for row in rows]

    def score(self) -> dict[str, Any] | None:
        """The fooling rate over every answer in the store (see ``judge_score``); None when empty."""
        connection = self._reader()
        records, answered, fooled, timeouts, judges = connection.execute(
            f"SELECT COUNT(*), SUM({ANSWERED}), SUM(picked = 'generated'), SUM(choice IS NULL), "
            f"COUNT(DISTINCT CASE WHEN {ANSWERED} THEN judge END) FROM judgements"
        ).fetchone()
        if not records:
            return None
        answered, fooled, timeouts = answered or 0, fooled or 0, timeouts or 0
        low, high = wilson_interval(fooled, answered)
        rate = fooled / answered if answered else math.nan
        thresholds = self.thresholds()
        return {
            "records": records,
            "trials": answered,
            "fooled": fooled,
            "fooling_rate": rate,
            "accuracy": 1 - rate if answered else math.nan,
            "ci95": [low, high],
            "interval": INTERVAL,
            "timeouts": timeouts,
            "judges": judges,
            "threshold_ms": statistics.fmean(thresholds) if thresholds else None,
            "threshold_judges": len(thresholds),
            "store": str(self.path),
            "files": [str(p) for p in sorted(self.path.parent.glob("*.jsonl"))],
        }

    def thresholds(self) -> list[float]:
        """The staircase threshold of every (round, judge) whose exposures moved (HYPE_time)."""
        rows = self._reader().execute(
            "SELECT round, judge, exposure_ms FROM judgements WHERE exposure_ms IS NOT NULL "
            "ORDER BY round, judge, trial"
        )
        sequences: dict[tuple[str, str], list[int]] = {}
        for round_id, judge, exposure in rows:
            sequences.setdefault((round_id, judge), []).append(int(exposure))
        found = (staircase_threshold(s) for s in sequences.values())
        return [t for t in found if t is not None]


def _row(record: dict[str, Any]) -> tuple[Any, ...] | None:
    """A record as the store's columns; None for a line that is no judgement (no integer trial)."""
    trial = record.get("trial")
    if not isinstance(trial, int) or isinstance(trial, bool):
        return None
    choice = record.get("choice")
    text = {key: None if record.get(key) is None else str(record.get(key)) for key in ("run", "time", "format")}
    return (
        "" if record.get("round") is None else str(record["round"]),
        "" if record.get("judge") is None else str(record["judge"]),
        trial,
        text["run"],
        _number(record.get("seed"), int),
        json.dumps(record.get("left"), sort_keys=True),
        json.dumps(record.get("right"), sort_keys=True),
        None if choice is None else str(choice),
        _number(record.get("response_ms"), int),
        _number(record.get("time_limit_s"), float),
        _number(record.get("exposure_ms"), int),
        text["time"],
        text["format"],
    )


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return kind(value)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A store row back as a record, its fields in ``RECORD_FIELDS`` order."""
    values = {
        **row,
        "left": json.loads(row["left_shown"]),
        "right": json.loads(row["right_shown"]),
        "format": row["format"] if row["format"] is None or not row["format"].isdigit() else int(row["format"]),
    }
    return {key: values.get(key) for key in RECORD_FIELDS}


def export_text(records: Iterable[dict[str, Any]], kind: ExportFormat) -> str:
    """Records as JSON lines, or as CSV with one column per field (``CSV_COLUMNS``)."""
    records = list(records)
    if kind == "jsonl":
        return jsonl_text(records)
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in records:
        shown: dict[str, dict[str, Any]] = {}
        for side in CHOICES:
            value = r.get(side)
            shown[side] = value if isinstance(value, dict) else {}
        writer.writerow(
            {
                **{key: r.get(key) for key in CSV_COLUMNS if key in r},
                "left_source": shown["left"].get("source"),
                "left_index": shown["left"].get("index"),
                "right_source": shown["right"].get("source"),
                "right_index": shown["right"].get("index"),
                "picked": picked_source(r),
            }
        )
    return out.getvalue()


def judge_score(run_path: str | Path) -> dict[str, Any] | None:
    """The fooling rate of the run's model over every judgement recorded for it, with its 95%
    Wilson interval; None when the run has no judgements (and then nothing is written).

    Keys: ``trials`` (answered), ``fooled`` (generated picked as real), ``fooling_rate``,
    ``ci95`` ([low, high]), ``interval`` (its name), ``timeouts``, ``judges`` (distinct ids),
    ``accuracy`` (1 - fooling rate: how often the real image was found), ``records`` (rows),
    ``threshold_ms`` (the mean staircase threshold, HYPE_time; None without a staircase),
    ``threshold_judges``, ``store`` and ``files`` (the JSONL files imported into it)."""
    if not judgements_dir(run_path).is_dir():
        return None
    with JudgementStore.open(run_path) as store:
        return store.score()
