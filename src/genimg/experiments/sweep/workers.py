"""Tasks run in parallel: spawned worker processes that split the CPU cores (and the GPUs) between them."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait

from genimg.experiments.sweep.devices import on_device
from genimg.experiments.sweep.task import Task, TaskResult, run_task
from genimg.experiments.sweep.worker_setup import set_up_worker


def execute(
    tasks: list[Task],
    parallel: int,
    threads: int,
    on_result: Callable[[TaskResult, int, int], None] | None = None,
    devices: list[str] | None = None,
) -> list[TaskResult]:
    """Run tasks in ``parallel`` spawned worker processes (in this process when parallel is 1).

    At most ``parallel`` tasks run at once, each in a slot of its own; with ``devices`` (one per
    slot, ``devices.worker_devices``) a task trains on its slot's device, so no two running tasks
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
