"""What is left to do in a sweep directory: each variant's state, read from its run directory,
and one task per variant that is not both finished and evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genimg.experiments.sweep.definition import Sweep, Variant
from genimg.experiments.sweep.task import Task
from genimg.runs import RunDir, resume_config
from genimg.runs.checkpoint import readable


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
