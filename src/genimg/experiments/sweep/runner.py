"""Running a sweep: write sweep.json, train and evaluate every variant that is not done, then
write the report. An interrupted sweep continues where it stopped (``resume_sweep``).

Read top to bottom: what is left to do in a sweep directory (each variant's state, read from its
run directory, and one ``Task`` per variant that is not both finished and evaluated); how the
parallel runs share the GPUs; the pool of spawned worker processes that run the tasks; and
``run_sweep`` itself. What one worker does for one variant is ``task.py``, which a worker imports
without this module and the report it writes.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genimg.errors import UserError
from genimg.experiments.report import build_report
from genimg.experiments.sweep import evaluation
from genimg.experiments.sweep.definition import Sweep, Variant
from genimg.experiments.sweep.task import Task, TaskResult, run_task
from genimg.experiments.sweep.worker_setup import set_up_worker, threads_per_worker
from genimg.runs import RunDir, resume_config
from genimg.runs.checkpoint import readable
from genimg.train.trainer import validate_config

try:
    import resource
except ImportError:  # Windows: no CPU time of child processes
    resource = None  # type: ignore[assignment]  # None marks the module absent (checked before each use)


# What is left to do in a sweep directory.
def variant_state(run_dir: Path) -> str:
    """finished, partial (has a last checkpoint to resume from), or new."""
    run = RunDir(run_dir)
    if run.is_finished():
        return "finished"
    if (readable(run.checkpoint("last")) / "state.pt").exists():
        return "partial"
    return "new"


def variant_states(sweep: Sweep) -> dict[str, str]:
    """Every variant's state, by name, in sweep order."""
    return {v.name: variant_state(sweep.run_dir(v)) for v in sweep.variants}


def needs_evaluation(run_dir: Path) -> bool:
    """A finished run needs (re-)evaluation when it has no eval/metrics.json newer than its summary."""
    run = RunDir(run_dir)
    metrics = run.eval_dir / "metrics.json"
    if not metrics.exists():
        return True
    return run.summary_file.exists() and metrics.stat().st_mtime < run.summary_file.stat().st_mtime


def pending_variants(sweep: Sweep, states: dict[str, str] | None = None) -> list[Variant]:
    """Variants not both finished and evaluated (``states``: from ``variant_states``, read here if not given)."""
    states = variant_states(sweep) if states is None else states

    def done(variant: Variant) -> bool:
        evaluated = sweep.evaluation is None or not needs_evaluation(sweep.run_dir(variant))
        return states[variant.name] == "finished" and evaluated

    return [v for v in sweep.variants if not done(v)]


def plan_tasks(sweep: Sweep, threads: int, quiet: bool = True) -> tuple[list[Task], dict[str, str]]:
    """The work left: one task per pending variant; and every variant's state."""
    states = variant_states(sweep)
    tasks = []
    for variant in pending_variants(sweep, states):
        run_dir = sweep.run_dir(variant)
        state = states[variant.name]
        fresh = sweep.variant_config(variant, threads)
        if state == "finished":
            config = None
        elif state == "partial":
            config = _resume_config_dict(run_dir, threads, sweep.sets_threads())
        else:
            config = fresh.to_dict()
        log = sweep.path / "logs" / f"{variant.name}.log"
        run_threads = fresh.train.threads or threads  # the user's, where they set it
        tasks.append(
            Task(variant.name, str(run_dir), config, state == "partial", sweep.evaluation, run_threads, str(log), quiet)
        )
    return tasks, states


def _resume_config_dict(run_dir: Path, threads: int, keep_threads: bool) -> dict[str, Any]:
    return resume_config(run_dir, {} if keep_threads else {"train.threads": threads}).to_dict()


# How a sweep's parallel runs share the GPUs: each worker slot its own, round-robin.
#
# On a machine with several GPUs, a sweep whose runs train on ``train.device=auto`` (or ``cuda``)
# gives worker slot k the device ``cuda:(k mod GPU count)``, written into the config of each run
# that slot trains: ``--parallel 4`` on 4 GPUs trains 4 runs at once, one per GPU, each run
# recording where it trained. A slot is freed when its run ends and the next run takes it (see
# ``execute``), so two runs share a GPU only when there are more workers than GPUs. CPU
# runs keep splitting the cores (``worker_setup.threads_per_worker``); with one GPU, ``auto``
# already means it.
SHARED_SETTINGS = ("auto", "cuda")  # the settings that leave the choice of GPU to the sweep


def worker_devices(workers: int, settings: set[str]) -> list[str] | None:
    """One device per worker slot, round-robin over the GPUs; None when the runs' device
    ``settings`` name a particular device (or the CPU), or there are fewer than two GPUs."""
    if workers < 2 or not settings or not settings <= set(SHARED_SETTINGS) or not torch.cuda.is_available():
        return None
    count = torch.cuda.device_count()
    if count < 2:
        return None
    return [f"cuda:{slot % count}" for slot in range(workers)]


def on_device(task: Task, device: str | None) -> Task:
    """``task`` with its run trained on ``device`` (unchanged for None, or when nothing trains)."""
    if device is None or task.config is None:
        return task
    config = {**task.config, "train": {**task.config.get("train", {}), "device": device}}
    return dataclasses.replace(task, config=config)


# Tasks run in parallel: spawned worker processes that split the CPU cores (and the GPUs) between them.
def execute(
    tasks: list[Task],
    parallel: int,
    threads: int,
    on_result: Callable[[TaskResult, int, int], None] | None = None,
    devices: list[str] | None = None,
) -> list[TaskResult]:
    """Run tasks in ``parallel`` spawned worker processes (in this process when parallel is 1).

    At most ``parallel`` tasks run at once, each in a slot of its own; with ``devices`` (one per
    slot, ``worker_devices``) a task trains on its slot's device, so no two running tasks
    share a GPU unless there are more slots than GPUs."""
    results: list[TaskResult] = []
    total = len(tasks)
    if parallel <= 1 or total <= 1:
        for task in tasks:
            results.append(run_task(task))
            if on_result:
                on_result(results[-1], len(results), total)
        return results
    pool = _pool(parallel, threads)
    waiting, free = list(tasks), list(range(parallel))
    running: dict[Future, tuple[Task, int]] = {}
    with pool:
        try:
            while waiting or running:
                while waiting and free:
                    slot = free.pop(0)
                    task = on_device(waiting.pop(0), devices[slot] if devices else None)
                    running[pool.submit(run_task, task)] = (task, slot)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task, slot = running.pop(future)
                    free = sorted([*free, slot])
                    try:
                        result = future.result()
                    except Exception as e:  # a worker died (out of memory, killed): report it with the variant
                        result = TaskResult(task.name, error=f"worker failed: {type(e).__name__}: {e}")
                    results.append(result)
                    if on_result:
                        on_result(result, len(results), total)
        except KeyboardInterrupt:
            # Stop now rather than wait for the running runs: their last checkpoints are whole
            # (written atomically), so `--resume` continues them.
            _terminate_workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    order = {t.name: i for i, t in enumerate(tasks)}
    return sorted(results, key=lambda r: order[r.name])


def _pool(parallel: int, threads: int) -> Executor:
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=parallel, mp_context=context, initializer=set_up_worker, initargs=(threads, os.getpid(), parallel)
    )


def _terminate_workers(pool: Executor) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # no public handle before 3.14
        process.terminate()


@dataclass
class SweepOutcome:
    sweep: Sweep
    results: list[TaskResult]
    skipped: list[str]  # variants already finished and evaluated
    report: Path | None
    wall_s: float
    cpu_s: float  # this process and its finished workers, summed

    @property
    def failed(self) -> list[TaskResult]:
        return [r for r in self.results if r.error]


def run_sweep(
    sweep: Sweep, *, parallel: int = 1, report: bool = True, quiet: bool = False, cores: int | None = None
) -> SweepOutcome:
    """Write sweep.json, train and evaluate every variant that is not done, then write the report.

    Raises UserError after the report when some variants failed (they can be retried with
    ``resume_sweep``); the others are kept.
    """
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    for variant in sweep.variants:  # every variant against its data, before anything is written
        try:
            validate_config(sweep.variant_config(variant))
        except UserError as e:
            raise UserError(f"variant {variant.name}: {e}") from None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    children0 = _children_cpu()
    sweep.path.mkdir(parents=True, exist_ok=True)
    sweep.save()
    threads_per_worker(parallel, cores)  # validates --parallel
    workers = max(1, min(parallel, len(pending_variants(sweep))))  # no idle worker holds cores
    threads = threads_per_worker(workers, cores)
    tasks, states = plan_tasks(sweep, threads)
    devices = worker_devices(workers, {sweep.variant_config(v).train.device for v in sweep.variants})
    skipped = [name for name in states if name not in {t.name for t in tasks}]
    counts = {s: sum(1 for v in states.values() if v == s) for s in ("finished", "partial", "new")}
    # the threads the runs train with: the user's where --set threads=N fixed them (plan_tasks)
    run_threads = tasks[0].threads if tasks else threads
    log(
        f"sweep {sweep.path}: {len(sweep.variants)} runs ({sweep.mode}, {len(sweep.seeds)} seed(s)); "
        f"{counts['finished']} finished, {counts['partial']} to resume, {counts['new']} to start; "
        f"{workers} worker(s) x {run_threads} thread(s)" + (f" on {', '.join(devices)}" if devices else "")
    )

    def progress(result: TaskResult, done: int, total: int) -> None:
        if result.error:
            status = "failed"
        elif result.trained:
            status = "trained and evaluated" if result.evaluated else "trained"
        else:
            status = "evaluated"
        error = f"\n    {result.error.splitlines()[-1]}" if result.error else ""
        log(f"[{done}/{total}] {result.name}: {status} in {result.wall_s:.1f} s{error}")

    if any(t.evaluation is not None for t in tasks):
        evaluation.prepare_evaluation(sweep, log)
    try:
        results = execute(tasks, workers, threads, progress, devices)
    except KeyboardInterrupt:  # the CLI prints the message; every finished checkpoint is whole
        raise KeyboardInterrupt(f"continue the sweep with `genimg sweep --resume {sweep.path}`") from None
    report_path = None
    if report:
        report_path = build_report([sweep.path])
        log(f"report: {report_path}")
    outcome = SweepOutcome(
        sweep,
        results,
        skipped,
        report_path,
        time.perf_counter() - wall0,
        time.process_time() - cpu0 + _children_cpu() - children0,
    )
    log(f"sweep done in {outcome.wall_s:.0f} s wall, {outcome.cpu_s:.0f} s CPU")
    if outcome.failed:
        names = ", ".join(r.name for r in outcome.failed)
        first_error = outcome.failed[0].error
        assert first_error  # the failed results are those with an error
        first = first_error.strip().splitlines()[-1]
        raise UserError(
            f"{len(outcome.failed)} of {len(results)} runs failed ({names}); first error: {first}. "
            f"Fix it and continue with `genimg sweep --resume {sweep.path}`"
        )
    return outcome


def resume_sweep(path: str | Path, *, parallel: int = 1, report: bool = True, quiet: bool = False) -> SweepOutcome:
    """Continue an interrupted sweep: skip finished runs, resume half-trained ones, start the rest."""
    sweep = Sweep.load(path)
    return run_sweep(sweep, parallel=parallel, report=report, quiet=quiet)


def _children_cpu() -> float:
    """CPU seconds used by this process's finished child processes (0 where that is unknown)."""
    if resource is None:
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
