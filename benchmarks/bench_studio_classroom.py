"""genimg studio in a classroom: many judges answering one round at once, measured over HTTP.

    python benchmarks/bench_studio_classroom.py [--judges 40] [--trials 100] [--pace 0.3 0.9]
                                                [--threads 1] [--kills 2] [--max-seconds 300]
                                                [--json out.json]

Starts ``genimg studio`` over copies of three shipped mnist-sample models (``pretrained:
vae-mnist-sample``, ``dcgan-...``, ``diffusion-...``; copies, so every run of this benchmark
starts with empty stores) as its own process on a free port of 127.0.0.1, waits until the
judging round is drawn, then runs three classes one after the other:

1. **class 1**: ``--judges`` simulated judges (threads, each with its own kept-alive HTTP
   connection) answer the whole round (``--trials`` trials), each thinking ``--pace`` seconds
   (uniform) before every click and sending about 2% of its answers twice (a double click,
   which must be refused); beside them one client sends SDEdit requests to the diffusion
   model back to back (``/api/draw/sdedit``, 20 steps, strength 0.5, as a Draw page would)
   and a teacher's Results page polls ``/api/results`` every 2 s.
2. **class 2**: as many new judges, with class 1's answers already recorded: the cost of an
   answer must not grow with the answers before it.
3. **class 3**: as many new judges again, and the server SIGKILLed ``--kills`` times in the
   middle of the round and restarted on the same port. A judge whose request fails asks for
   its next trial until the server is back, and must be sent to the trial it had reached (the
   one it sent, when that answer was never committed, or the next when it was).

Reported per class: p50 / p95 / max latency per endpoint (client wall time, so HTTP, JSON and
the PNGs included), answers sent / acknowledged / recorded, answers lost (acknowledged but
not in the store), duplicated (a trial recorded twice), double clicks refused, judges sent to
the wrong trial, and the server's CPU time (from /proc). The store is read back at the end
with ``genimg.evaluate.judgements.JudgementStore``. Everything stays on 127.0.0.1; every
judge, client and phase stops by itself (``--max-seconds`` per class at most).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
from genimg.data import load_dataset
from genimg.evaluate.judgements import JudgementStore
from genimg.runs.directory import RunDir

REPO = Path(__file__).resolve().parents[1]
MODELS = ("vae-mnist-sample", "dcgan-mnist-sample", "diffusion-mnist-sample")
MOST_JUDGES, MOST_TRIALS = 200, 1000
DOUBLE_CLICKS = 0.02  # the share of answers a judge sends twice
POLL_S = 2.0  # the Results page's polling period


class ConnectionLost(Exception):
    """The server did not answer (killed, restarting)."""


class Client:
    """One kept-alive HTTP connection to the studio, reopened after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.http: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[float, int, Any]:
        if self.http is None:
            self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        start = time.perf_counter()
        try:
            self.http.request(method, path, body=data, headers=headers)
            response = self.http.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as e:
            self.http.close()
            self.http = None
            raise ConnectionLost(str(e)) from None
        elapsed = time.perf_counter() - start
        reply = json.loads(raw) if response.getheader("content-type", "").startswith("application/json") else raw
        return elapsed, response.status, reply


@dataclass
class Tally:
    """What every client of one class saw; merged under a lock."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    acknowledged: dict[tuple[str, int], str] = field(default_factory=dict)  # (judge, trial) -> choice
    unacknowledged: dict[tuple[str, int], str] = field(default_factory=dict)  # sent, no reply: maybe committed
    marks: list[tuple[int, float]] = field(default_factory=list)  # (answers acknowledged before, seconds)
    sent: int = 0
    double_clicks: int = 0
    double_clicks_refused: int = 0
    wrong_trial: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def time(self, endpoint: str, seconds: float) -> None:
        with self.lock:
            self.latencies.setdefault(endpoint, []).append(seconds)


class Server:
    """``genimg studio`` as a child process, restartable on its port; its CPU time summed over lives."""

    def __init__(self, runs: list[Path], port: int, args: argparse.Namespace, log: Path) -> None:
        self.port = port
        self.command = [sys.executable, "-m", "genimg", "studio", *map(str, runs), "--port", str(port)]
        self.command += ["--threads", str(args.threads), "--trials", str(args.trials), "--seed", str(args.seed)]
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        self.log = log
        self.process: subprocess.Popen | None = None
        self.cpu_before = 0.0  # CPU seconds of the lives already ended

    def start(self, timeout: float = 300) -> float:
        """Start a life and wait until its judging round is drawn; the seconds that took."""
        start = time.monotonic()
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        client = Client(self.port)
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the studio exited with code {self.process.returncode}; see {self.log}")
            try:
                _, status, reply = client.request("GET", "/api/runs")
                if status == 200 and reply["judge"]["ready"]:
                    return time.monotonic() - start
            except ConnectionLost:
                pass
            time.sleep(0.1)
        raise RuntimeError("the studio did not start")

    def cpu_seconds(self) -> float:
        now = 0.0
        if self.process is not None and self.process.poll() is None:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            now = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return self.cpu_before + now

    def kill(self) -> None:
        assert self.process is not None
        self.cpu_before = self.cpu_seconds()
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def judge(index: int, port: int, args: argparse.Namespace, tally: Tally, deadline: float) -> None:
    """One simulated judge: the whole round, one answer at a time, surviving server restarts."""
    rng = random.Random(args.seed * 1000 + index)
    client = Client(port)
    reply = _next(client, None, tally, deadline)
    name = reply["judge"] if reply else ""
    while reply is not None and not reply["done"] and time.monotonic() < deadline:
        k = reply["trial"]
        time.sleep(rng.uniform(*args.pace))
        choice = rng.choice(("left", "right"))
        body = {"judge": name, "trial": k, "choice": choice, "response_ms": rng.randint(300, 900)}
        with tally.lock:
            tally.sent += 1
        try:
            elapsed, status, answer = client.request("POST", "/api/judge/answer", body)
        except ConnectionLost:  # killed mid-request: committed or not, the server must know which
            with tally.lock:
                tally.failures += 1
                tally.unacknowledged[(name, k)] = choice
            reply = _next(client, name, tally, deadline, "next, after a failed answer")
            if reply is not None and reply["trial"] not in (k, k + 1) and not (reply["done"] and k == args.trials - 1):
                with tally.lock:
                    tally.wrong_trial += 1
            continue
        if status != 200:
            with tally.lock:
                tally.errors.append(f"answer {status}: {answer}")
            reply = _next(client, name, tally, deadline)
            continue
        tally.time("answer", elapsed)
        with tally.lock:
            tally.marks.append((len(tally.acknowledged), elapsed))
            tally.acknowledged[(name, k)] = choice
            if answer["trial"] != (None if answer["done"] else k + 1):
                tally.wrong_trial += 1
        if rng.random() < DOUBLE_CLICKS:
            try:
                _, again, _ = client.request("POST", "/api/judge/answer", body)
                with tally.lock:
                    tally.double_clicks += 1
                    tally.double_clicks_refused += again == 409
            except ConnectionLost:
                pass
        reply = answer


def _next(client: Client, name: str | None, tally: Tally, deadline: float, endpoint: str = "next") -> dict | None:
    """The judge's next trial, asked again and again while the server is away (timed: the one
    that was answered, which after a restart may have waited for the round's images)."""
    while time.monotonic() < deadline:
        try:
            elapsed, status, reply = client.request("POST", "/api/judge/next", {} if name is None else {"judge": name})
        except ConnectionLost:
            time.sleep(0.2)
            continue
        if status == 200:
            tally.time(endpoint, elapsed)
            return reply
        with tally.lock:
            tally.errors.append(f"next {status}: {reply}")
        time.sleep(0.2)
    return None


def drawing() -> list[float]:
    """A 28x28 test digit as a stroke drawing would reach the server: ink 1, paper 0."""
    digit = load_dataset("mnist-sample", "test").images[0, 0]
    return [1.0 if v > 0.4 else 0.0 for v in digit.flatten().tolist()]


def sdedit_client(port: int, run_id: str, pixels: list[float], stop: threading.Event, tally: Tally) -> None:
    """A Draw page's user: SDEdit of one drawing, again and again, until the class is done.
    (The drawing is made before the class starts: loading data here would hold this process's
    GIL and stall every judge's thread, which would be measured as server latency.)"""
    client, seed = Client(port), 0
    while not stop.is_set():
        body = {"run": run_id, "pixels": pixels, "strength": 0.5, "samples": 1, "steps": 20, "seed": seed}
        seed += 1
        try:
            elapsed, status, reply = client.request("POST", "/api/draw/sdedit", body)
        except ConnectionLost:
            time.sleep(0.2)
            continue
        if status == 200:
            tally.time("sdedit", elapsed)
        else:
            tally.errors.append(f"sdedit {status}: {reply}")


def results_poller(port: int, stop: threading.Event, tally: Tally) -> None:
    """The teacher's Results page."""
    client = Client(port)
    while not stop.wait(POLL_S):
        try:
            elapsed, status, _ = client.request("GET", "/api/results")
        except ConnectionLost:
            continue
        if status == 200:
            tally.time("results", elapsed)


def run_class(
    name: str, server: Server, sdedit_run: str, pixels: list[float], args: argparse.Namespace, kills: int, recorded: int
) -> dict[str, Any]:
    tally = Tally()
    stop = threading.Event()
    deadline = time.monotonic() + args.max_seconds
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    helpers = [
        threading.Thread(target=sdedit_client, args=(server.port, sdedit_run, pixels, stop, tally), daemon=True),
        threading.Thread(target=results_poller, args=(server.port, stop, tally), daemon=True),
    ]
    judges = [
        threading.Thread(target=judge, args=(i, server.port, args, tally, deadline), daemon=True)
        for i in range(args.judges)
    ]
    for thread in helpers + judges:
        thread.start()
    restarts = []
    total = args.judges * args.trials
    for n in range(1, kills + 1):  # SIGKILL when the class is n / (kills + 1) of the way through
        while len(tally.acknowledged) < total * n / (kills + 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        restarts.append(round(server.start(), 2))
    for thread in judges:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 1)
    wall = time.monotonic() - wall0
    cpu = server.cpu_seconds() - cpu0
    stop.set()
    for thread in helpers:
        thread.join(timeout=120)
    return {"class": name, "recorded_before": recorded, "wall_s": wall, "server_cpu_s": cpu,
            "restarts_s": restarts, "tally": tally}  # fmt: skip


def check_store(runs: list[Path], classes: list[dict[str, Any]], trials: int) -> None:
    """Read the stores back: every acknowledged answer there with its choice, none twice, every
    judge's trials exactly 0..trials-1; the unacknowledged answers that were committed anyway."""
    rows = []
    for run in runs:
        with JudgementStore.open(run) as store:
            rows += store.records()
    by_key = Counter((r["round"], r["judge"], r["trial"]) for r in rows)
    choices = {(r["judge"], r["trial"]): r["choice"] for r in rows}
    for result in classes:
        tally: Tally = result["tally"]
        judges = {j for j, _ in tally.acknowledged} | {j for j, _ in tally.unacknowledged}
        mine = [r for r in rows if r["judge"] in judges]
        result["recorded"] = len(mine)
        result["duplicated"] = sum(n - 1 for (_, j, _), n in by_key.items() if j in judges and n > 1)
        result["lost"] = sum(choices.get(key) != choice for key, choice in tally.acknowledged.items())
        result["committed_unacknowledged"] = sum(
            key in choices and key not in tally.acknowledged for key in tally.unacknowledged
        )
        complete = Counter(r["judge"] for r in mine)
        result["complete_judges"] = sum(
            n == trials and sorted(r["trial"] for r in mine if r["judge"] == j) == list(range(trials))
            for j, n in complete.items()
        )


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    tally: Tally = result.pop("tally")
    endpoints = {}
    for endpoint, seconds in sorted(tally.latencies.items()):
        ms = [s * 1000 for s in seconds]
        endpoints[endpoint] = {"n": len(ms), "p50_ms": statistics.median(ms), "p95_ms": percentile(ms, 0.95),
                               "max_ms": max(ms)}  # fmt: skip
    marks = [seconds * 1000 for _, seconds in sorted(tally.marks)]
    tenth = max(1, len(marks) // 10)
    return {
        **result,
        "endpoints": endpoints,
        "answer_p95_first_tenth_ms": percentile(marks[:tenth], 0.95) if marks else None,
        "answer_p95_last_tenth_ms": percentile(marks[-tenth:], 0.95) if marks else None,
        "sent": tally.sent,
        "acknowledged": len(tally.acknowledged),
        "failed_requests": tally.failures,
        "double_clicks": tally.double_clicks,
        "double_clicks_refused": tally.double_clicks_refused,
        "wrong_trial": tally.wrong_trial,
        "errors": tally.errors[:5],
        "server_cpu_percent": 100 * result["server_cpu_s"] / result["wall_s"],
    }


def machine(args: argparse.Namespace) -> dict[str, Any]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        model = platform.processor() or "unknown"
    return {"cpu": model, "cpus": os.cpu_count(), "server_threads": args.threads, "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def copy_runs(into: Path) -> list[Path]:
    """Fresh copies of the shipped models: empty stores, so every benchmark starts alike."""
    copies = []
    for name in MODELS:
        source = RunDir.open(f"pretrained:{name}").path
        target = into / name
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("judgements"))
        copies.append(target)
    return copies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def print_report(info: dict[str, Any], classes: list[dict[str, Any]]) -> None:
    print(f"\ngenimg studio in a classroom ({info})\n")
    print("| class | recorded before | endpoint | n | p50 ms | p95 ms | max ms |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for c in classes:
        for endpoint, e in c["endpoints"].items():
            print(f"| {c['class']} | {c['recorded_before']:,} | {endpoint} | {e['n']:,} | {e['p50_ms']:.1f} | "
                  f"{e['p95_ms']:.1f} | {e['max_ms']:.1f} |")  # fmt: skip
    print("\n| class | whole class s | sent | acknowledged | recorded | lost | duplicated | double clicks refused "
          "| wrong trial | restarts (s to ready) | server CPU s (% of one core) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for c in classes:
        print(f"| {c['class']} | {c['wall_s']:.0f} | {c['sent']:,} | {c['acknowledged']:,} | {c['recorded']:,} | "
              f"{c['lost']} | {c['duplicated']} | {c['double_clicks_refused']}/{c['double_clicks']} | "
              f"{c['wrong_trial']} | {', '.join(map(str, c['restarts_s'])) or '—'} | "
              f"{c['server_cpu_s']:.0f} ({c['server_cpu_percent']:.0f}%) |")  # fmt: skip
    print("\n| class | answer p95 ms, first tenth of the class's answers | last tenth |")
    print("|---|---:|---:|")
    for c in classes:
        print(f"| {c['class']} | {c['answer_p95_first_tenth_ms']:.1f} | {c['answer_p95_last_tenth_ms']:.1f} |")
    for c in classes:
        if c["errors"] or c["committed_unacknowledged"]:
            print(f"{c['class']}: {c['committed_unacknowledged']} answers committed but unacknowledged (a kill "
                  f"between commit and reply; the judge was sent on); errors: {c['errors']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judges", type=int, default=40)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--pace", type=float, nargs=2, default=(0.3, 0.9), metavar=("LOW", "HIGH"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server (default 1)")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs in class 3 (0: no class 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=300, help="a class stops after this at most")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not 1 <= args.judges <= MOST_JUDGES or not 1 <= args.trials <= MOST_TRIALS:
        parser.error(f"--judges must lie in 1..{MOST_JUDGES} and --trials in 1..{MOST_TRIALS}")
    info = machine(args)
    workdir = Path(tempfile.mkdtemp(prefix="genimg-classroom-"))
    server = None
    try:
        runs = copy_runs(workdir)
        server = Server(runs, free_port(), args, workdir / "studio.log")
        info["round_drawn_s"] = round(server.start(), 2)
        _, _, described = Client(server.port).request("GET", "/api/runs")
        sdedit_run = next(r["id"] for r in described["runs"] if r["views"]["draw"]["sdedit"]["offered"])
        pixels = drawing()
        classes, recorded = [], 0
        plan = [("class 1", 0), ("class 2", 0)] + (
            [(f"class 3 ({args.kills} SIGKILLs)", args.kills)] if args.kills else []
        )
        for name, kills in plan:
            result = run_class(name, server, sdedit_run, pixels, args, kills, recorded)
            print(f"{name}: {len(result['tally'].acknowledged)} answers in {result['wall_s']:.0f} s", flush=True)
            recorded += len(result["tally"].acknowledged)
            classes.append(result)
        server.stop()
        check_store(runs, classes, args.trials)
        summaries = [summary(c) for c in classes]
        info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print_report(info, summaries)
        if args.json:
            args.json.write_text(json.dumps({"machine": info, "args": vars(args) | {"json": str(args.json)},
                                             "classes": summaries}, indent=2, default=str) + "\n")  # fmt: skip
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
