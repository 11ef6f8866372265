"""Running a sweep: write sweep.json, train and evaluate every variant that is not done, then
write the report. An interrupted sweep continues where it stopped (``resume_sweep``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from genimg.errors import UserError
from genimg.experiments.report import build_report
from genimg.experiments.sweep import evaluation
from genimg.experiments.sweep.definition import Sweep
from genimg.experiments.sweep.devices import worker_devices
from genimg.experiments.sweep.pending import pending_variants, plan_tasks
from genimg.experiments.sweep.task import TaskResult
from genimg.experiments.sweep.threads import threads_per_worker
from genimg.experiments.sweep.workers import execute
from genimg.train.validation import validate_config

try:
    import resource
except ImportError:  # Windows: no CPU time of child processes
    resource = None


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
    log(
        f"sweep {sweep.path}: {len(sweep.variants)} runs ({sweep.mode}, {len(sweep.seeds)} seed(s)); "
        f"{counts['finished']} finished, {counts['partial']} to resume, {counts['new']} to start; "
        f"{workers} worker(s) x {threads} thread(s)" + (f" on {', '.join(devices)}" if devices else "")
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
        first = outcome.failed[0].error.strip().splitlines()[-1]
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
