"""Sweeps: train many variants of one config, evaluate them alike, and report them side by side.

A sweep is a base config (the family's defaults plus ``--set`` overrides) and a few swept
parameters, each with a list of values. Every variant is one run directory under the sweep
directory; ``sweep.json`` beside them records the definition and the variants:

    SWEEP/
      sweep.json          family, base overrides, parameters and values, mode, seeds,
                          evaluation settings, variants (name, parameter values, seed, run dir)
      base/  latent_dim=2/  ...   one run directory per variant (see records.py)
      report.html  report.csv     written at the end (genimg report SWEEP rebuilds them)

Two modes:

- ``one-at-a-time`` (the default): a base run, then each parameter varied alone around it.
  **The base value of a parameter is its value in the base config when that value is among
  the listed ones, otherwise the first listed value**, so the base run is always one of the
  variants and is shared by every parameter: 3 parameters with 3 values each make
  1 + 3 x 2 = 7 runs.
- ``grid``: the full factorial (3 x 3 x 3 = 27 runs).

``seeds=K`` repeats every variant with train.seed = base seed + 0..K-1; the report shows
mean ± std over the seeds.

Every variant's config is built and checked before anything trains, so a bad key or value
fails at once. Runs go to worker processes (``spawn``) that split the CPU cores between them;
each run is trained, then evaluated with the same settings (sample count, feature extractor,
seed), so the numbers are comparable. The evaluation measures the likelihood too, so runs skip
their own end-of-training estimate (train.likelihood_at_end=false unless set). An interrupted sweep continues with ``resume_sweep``:
finished runs are skipped, half-trained ones resume from their last checkpoint exactly, the
rest start.

This module imports torch and the trainer lazily: a spawned worker must set its thread
count and silence progress bars before they are imported.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from genimg.errors import UserError
from genimg.evaluate.features import available_extractors
from genimg.runs.directory import RunDir
from genimg.io import write_json

SWEEP_FILE = "sweep.json"
MODES = ("one-at-a-time", "grid")
BASE_NAME = "base"
# Keys the sweep itself sets for every variant; sweeping them would fight the sweep.
RESERVED_KEYS = ("train.out", "train.run_name", "train.progress")


# ---------------------------------------------------------------------------- the definition


@dataclass
class Variant:
    """One run of the sweep: a value for every swept parameter, and a seed."""

    name: str  # the run directory's name under the sweep directory
    values: dict[str, Any]  # every swept parameter's value in this run
    seed: int
    group: str  # the name shared by the seeds of one variant (equal to ``name`` with one seed)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "values": self.values, "seed": self.seed, "run_dir": self.name}


@dataclass
class Sweep:
    family: str
    base: dict[str, Any]  # overrides that make the base config from the family's defaults
    parameters: dict[str, list[Any]]  # swept key (as the user wrote it) -> values, in the order given
    mode: str
    seeds: list[int]
    evaluation: dict[str, Any] | None  # keyword arguments of the evaluator, the same for every run; None: no evaluation
    path: Path
    variants: list[Variant] = field(default_factory=list)
    created: str = ""

    # -- configs
    def base_config(self):
        from genimg.config.run_config import apply_overrides, default_config

        return apply_overrides(default_config(self.family), dict(self.base))

    def base_values(self) -> dict[str, Any]:
        """Each parameter's value in the base run (see the module docstring for the rule)."""
        config = self.base_config()
        out = {}
        for key, values in self.parameters.items():
            current = _field_value(config, key)
            out[key] = current if current in values else values[0]
        return out

    def variant_overrides(self, variant: Variant) -> dict[str, Any]:
        # The seed first: a swept seed parameter (``seed=0,1``), applied after it, wins.
        overrides = {"train.seed": variant.seed, **variant.values}
        overrides.update({"train.out": str(self.path), "train.run_name": variant.name, "train.progress": False})
        if self.evaluation is not None and not self._sets("train", "likelihood_at_end"):
            overrides["train.likelihood_at_end"] = False  # the evaluation measures it, with the sweep's settings
        return overrides

    def variant_config(self, variant: Variant, threads: int | None = None):
        from genimg.config.run_config import apply_overrides

        overrides = self.variant_overrides(variant)
        if threads is not None and not self.sets_threads():
            overrides["train.threads"] = threads
        return apply_overrides(self.base_config(), overrides)

    def sets_threads(self) -> bool:
        """Whether the user fixed train.threads (then the sweep leaves it alone)."""
        return self._sets("train", "threads")

    def _sets(self, section: str, name: str) -> bool:
        from genimg.config.run_config import default_config, resolve_key

        config = default_config(self.family)
        return any(resolve_key(config, k) == (section, name) for k in [*self.base, *self.parameters])

    def run_dir(self, variant: Variant) -> Path:
        return self.path / variant.name

    def groups(self) -> dict[str, list[Variant]]:
        """Variant groups (the seeds of one setting), in sweep order."""
        out: dict[str, list[Variant]] = {}
        for v in self.variants:
            out.setdefault(v.group, []).append(v)
        return out

    # -- files
    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "base_overrides": self.base,
            # A list, not a mapping: the order the user gave is the order of the report's sections.
            "parameters": [{"key": k, "values": v} for k, v in self.parameters.items()],
            "mode": self.mode,
            "seeds": self.seeds,
            "base_values": self.base_values(),
            "base_value_rule": "a parameter's base value is its value in the base config when listed, else the first listed value",
            "evaluation": self.evaluation,
            "created": self.created,
            "variants": [v.to_dict() for v in self.variants],
        }

    def save(self) -> None:
        write_json(self.path / SWEEP_FILE, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Sweep":
        path = Path(path)
        file = path / SWEEP_FILE
        if not file.exists():
            raise UserError(f"{path} is not a sweep directory (no {SWEEP_FILE}); pass the directory `genimg sweep` printed")
        data = json.loads(file.read_text())
        variants = [Variant(v["name"], v["values"], int(v["seed"]), v.get("group", v["name"])) for v in data["variants"]]
        parameters = {p["key"]: p["values"] for p in data["parameters"]}
        return cls(data["family"], data["base_overrides"], parameters, data["mode"], list(data["seeds"]),
                   data.get("evaluation"), path, variants, data.get("created", ""))


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).exists()


def _field_value(config, key: str) -> Any:
    from genimg.config.run_config import resolve_key

    section, name = resolve_key(config, key)
    value = getattr(getattr(config, section), name)
    return list(value) if isinstance(value, tuple) else value


def _value_text(value: Any) -> str:
    """A value as it appears in a run directory's name: short, exact, unique (repr for floats)."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,+\-\[\]]", "_", text)


def variant_name(values: dict[str, Any], changed: list[str]) -> str:
    if not changed:
        return BASE_NAME
    return _safe_name(",".join(f"{k}={_value_text(values[k])}" for k in changed))


def plan_variants(parameters: dict[str, list[Any]], base_values: dict[str, Any], mode: str, seeds: list[int]) -> list[Variant]:
    """The runs of a sweep, base first. One-at-a-time: 1 + sum(len(values) - 1); grid: prod(len(values))."""
    if mode not in MODES:
        raise UserError(f"sweep mode must be one of {', '.join(MODES)}, got '{mode}'")
    keys = list(parameters)
    settings: list[tuple[dict[str, Any], list[str]]] = []
    if mode == "one-at-a-time":
        settings.append((dict(base_values), []))
        for key in keys:
            for value in parameters[key]:
                if value != base_values[key]:
                    settings.append(({**base_values, key: value}, [key]))
    else:
        import itertools

        for combo in itertools.product(*(parameters[k] for k in keys)):
            settings.append((dict(zip(keys, combo)), list(keys)))
    variants = []
    for values, changed in settings:
        group = variant_name(values, changed)
        for seed in seeds:
            name = group if len(seeds) == 1 else f"{group}-seed{seed}"
            variants.append(Variant(name, values, seed, group))
    return variants


def split_values(text: str) -> list[str]:
    """Split ``2,8,32`` at top-level commas; ``[0.5,0.9],[0.5,0.999]`` keeps its lists whole."""
    parts, depth, current, quote = [], 0, "", None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    if any(not p.strip() for p in parts):
        raise UserError(f"empty value in '{text}'; write values separated by commas, e.g. latent_dim=2,8,32")
    return [p.strip() for p in parts]


def parse_parameters(items: list[str]) -> dict[str, list[Any]]:
    """``["latent_dim=2,8,32", "beta=0.5,1"]`` -> {"latent_dim": [2, 8, 32], "beta": [0.5, 1]}."""
    from genimg.config.run_config import parse_value

    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise UserError(f"expected key=value1,value2,..., got '{item}' (for example latent_dim=2,8,32)")
        if key in out:
            raise UserError(f"parameter '{key}' is given twice; list all its values once, e.g. {key}=1,2,3")
        out[key] = [parse_value(v) for v in split_values(text)]
    return out


def define_sweep(
    family: str,
    parameters: dict[str, list[Any]],
    *,
    mode: str = "one-at-a-time",
    seeds: int = 1,
    base: dict[str, Any] | list[str] | None = None,
    evaluation: dict[str, Any] | None = None,
    out: str | Path | None = None,
) -> Sweep:
    """Check every variant's config and return the sweep (nothing is written or trained).

    ``parameters`` maps config keys to lists of values. A key with a single value is a base
    override, like one in ``base``. Values are coerced to the field's type (``1`` for a float
    field becomes ``1.0``), so duplicates and the base value are recognised whatever the spelling.
    """
    from genimg.config.run_config import apply_overrides, default_config, parse_overrides, resolve_key

    if isinstance(base, list):
        base = parse_overrides(base)
    base = dict(base or {})
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    default = default_config(family)  # raises on an unknown family
    for key in list(base):
        _check_reserved(default, key)
    base_config = apply_overrides(default, base)

    swept: dict[str, list[Any]] = {}
    seen_fields: dict[tuple[str, str], str] = {}
    for key, values in parameters.items():
        if not isinstance(values, (list, tuple)):
            values = [values]
        field_id = resolve_key(base_config, key)  # raises with the valid keys
        _check_reserved(base_config, key)
        if field_id in seen_fields:
            raise UserError(f"'{key}' and '{seen_fields[field_id]}' name the same config field; sweep it once")
        seen_fields[field_id] = key
        if len(values) == 1:
            base[key] = values[0]
            continue
        # Coerce through the config so that values compare as the run will see them.
        canonical = []
        for value in values:
            try:
                canonical.append(_field_value(apply_overrides(base_config, {key: value}), key))
            except UserError as e:
                raise UserError(f"{key}={_value_text(value)}: {e}") from None
        duplicates = {_value_text(v) for v in canonical if canonical.count(v) > 1}
        if duplicates:
            raise UserError(f"parameter '{key}' lists {', '.join(sorted(duplicates))} more than once")
        swept[key] = canonical
    if ("train", "seed") in seen_fields and seeds > 1 and seen_fields[("train", "seed")] in swept:
        raise UserError("sweeping train.seed and --seeds together repeats the same runs; use one of them")
    base_config = apply_overrides(default, base)
    first_seed = base_config.train.seed
    seed_list = [first_seed + i for i in range(seeds)]

    path = Path(out) if out else Path(base_config.train.out) / f"sweep-{family}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    sweep = Sweep(family, base, swept, mode, seed_list, evaluation, path, created=dt.datetime.now().isoformat(timespec="seconds"))
    sweep.variants = plan_variants(swept, sweep.base_values(), mode, seed_list)
    swept_seed = seen_fields.get(("train", "seed"))
    if swept_seed in swept:
        for variant in sweep.variants:
            variant.seed = variant.values[swept_seed]
    names = [v.name for v in sweep.variants]
    if len(set(names)) != len(names):
        raise UserError("two variants would share a run directory name; make the listed values distinct")
    for variant in sweep.variants:  # every config is checked before anything trains
        try:
            sweep.variant_config(variant, threads=1)
        except UserError as e:
            raise UserError(f"variant {variant.name}: {e}") from None
    return sweep


def _check_reserved(config, key: str) -> None:
    from genimg.config.run_config import resolve_key

    section, name = resolve_key(config, key)
    if f"{section}.{name}" in RESERVED_KEYS:
        raise UserError(f"{section}.{name} is set by the sweep for every run; use --out DIR to choose where runs go")


# ---------------------------------------------------------------------------- running


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads for each of ``workers`` parallel runs: the cores split evenly, at least one."""
    if workers < 1:
        raise UserError(f"--parallel must be at least 1, got {workers}")
    return max(1, (cores or available_cores()) // workers)


@dataclass
class Task:
    """What one worker does for one variant: train (fresh or resumed) if needed, then evaluate."""

    name: str
    run_dir: str
    config: dict[str, Any] | None  # the config to train from (None: training is already finished)
    resume: bool
    evaluation: dict[str, Any] | None  # evaluator keyword arguments (None: no evaluation)
    threads: int
    log: str | None = None  # the worker's output goes here (parallel runs would interleave it)
    quiet: bool = True


@dataclass
class TaskResult:
    name: str
    trained: bool = False
    evaluated: bool = False
    error: str | None = None
    cpu_s: float = 0.0
    wall_s: float = 0.0


def variant_state(run_dir: Path) -> str:
    """finished, partial (has a last checkpoint to resume from), or new."""
    run = RunDir(run_dir)
    if run.is_finished():
        return "finished"
    if (run.checkpoint("last") / "state.pt").exists():
        return "partial"
    return "new"


def needs_evaluation(run_dir: Path) -> bool:
    """A finished run needs (re-)evaluation when it has no eval/metrics.json newer than its summary."""
    run = RunDir(run_dir)
    metrics = run.eval_dir / "metrics.json"
    if not metrics.exists():
        return True
    return run.summary_file.exists() and metrics.stat().st_mtime < run.summary_file.stat().st_mtime


def pending_variants(sweep: Sweep) -> list[Variant]:
    """Variants not both finished and evaluated."""
    def done(variant: Variant) -> bool:
        run_dir = sweep.run_dir(variant)
        return variant_state(run_dir) == "finished" and not (sweep.evaluation is not None and needs_evaluation(run_dir))

    return [v for v in sweep.variants if not done(v)]


def plan_tasks(sweep: Sweep, threads: int, quiet: bool = True) -> tuple[list[Task], dict[str, str]]:
    """The work left: one task per pending variant; and every variant's state."""
    states = {v.name: variant_state(sweep.run_dir(v)) for v in sweep.variants}
    tasks = []
    for variant in pending_variants(sweep):
        run_dir = sweep.run_dir(variant)
        state = states[variant.name]
        if state == "finished":
            config = None
        elif state == "partial":
            config = _resume_config_dict(run_dir, threads, sweep.sets_threads())
        else:
            config = sweep.variant_config(variant, threads).to_dict()
        log = sweep.path / "logs" / f"{variant.name}.log"
        run_threads = sweep.variant_config(variant, threads).train.threads or threads  # the user's, where they set it
        tasks.append(Task(variant.name, str(run_dir), config, state == "partial", sweep.evaluation, run_threads, str(log), quiet))
    return tasks, states


def _resume_config_dict(run_dir: Path, threads: int, keep_threads: bool) -> dict[str, Any]:
    from genimg.runs.loading import resume_config

    return resume_config(run_dir, {} if keep_threads else {"train.threads": threads}).to_dict()


def run_task(task: Task) -> TaskResult:
    """Train (or resume) one variant, then evaluate it. Errors are returned, not raised, so one
    failing variant does not stop the others."""
    result = TaskResult(task.name)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with _output_to(task.log):
        _run_task(task, result)
    result.wall_s = time.perf_counter() - wall0
    result.cpu_s = time.process_time() - cpu0
    return result


@contextlib.contextmanager
def _output_to(log: str | None) -> Iterator[None]:
    if log is None:
        yield
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        print(f"--- {dt.datetime.now().isoformat(timespec='seconds')}")
        yield


def _run_task(task: Task, result: TaskResult) -> None:
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(task.threads)  # training sets it too; this covers the evaluation
    try:
        if task.config is not None:
            from genimg.config.run_config import config_from_dict
            from genimg.train.trainer import train

            config = config_from_dict(task.config)
            if task.resume:
                train(config, resume=task.run_dir, quiet=task.quiet)
            else:
                train(config, run_dir=task.run_dir, quiet=task.quiet)
            result.trained = True
        if task.evaluation is not None:
            evaluate_variant(task.run_dir, task.evaluation, quiet=task.quiet)
            result.evaluated = True
    except Exception as e:  # noqa: BLE001 - reported per variant by the parent; the others go on
        print(traceback.format_exc())  # the whole story goes to the log
        result.error = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        if task.log:
            result.error += f" (log: {task.log})"
    finally:
        torch.set_num_threads(previous_threads)


def evaluate_variant(run_dir: str | Path, settings: dict[str, Any], quiet: bool = True) -> dict[str, Any]:
    """Score one run with the sweep's evaluation settings; writes RUN/eval/metrics.json."""
    from genimg.evaluate.evaluator import evaluate_run

    return evaluate_run(run_dir, **settings, progress=not quiet)


def prepare_evaluation(sweep: Sweep, log: Callable[..., None] = print) -> None:
    """Build the feature extractor once, here, before any training: a missing extractor (no
    Inception weights) fails now, and the dataset classifier is trained and cached once instead
    of by every worker."""
    from genimg.evaluate.evaluator import extractor_for

    kind = sweep.evaluation.get("features", "classifier")
    log(f"preparing the {kind} feature extractor for {sweep.base_config().data.dataset} (cached after the first time)")
    extractor_for(sweep.base_config().data, kind)


def _worker_init(threads: int) -> None:
    # Runs in a fresh (spawned) process before torch or tqdm is imported there.
    os.environ["TQDM_DISABLE"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def execute(tasks: list[Task], parallel: int, threads: int, on_result: Callable[[TaskResult, int, int], None] | None = None) -> list[TaskResult]:
    """Run tasks in ``parallel`` spawned worker processes (in this process when parallel is 1)."""
    results: list[TaskResult] = []
    total = len(tasks)
    if parallel <= 1 or total <= 1:
        for task in tasks:
            results.append(run_task(task))
            if on_result:
                on_result(results[-1], len(results), total)
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=parallel, mp_context=context, initializer=_worker_init, initargs=(threads,)) as pool:
        futures = {pool.submit(run_task, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Exception as e:  # a worker died (out of memory, killed): report it with the variant
                    result = TaskResult(futures[future].name, error=f"worker failed: {type(e).__name__}: {e}")
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


def _terminate_workers(pool) -> None:
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


def run_sweep(sweep: Sweep, *, parallel: int = 1, report: bool = True, quiet: bool = False, cores: int | None = None) -> SweepOutcome:
    """Write sweep.json, train and evaluate every variant that is not done, then write the report.

    Raises UserError after the report when some variants failed (they can be retried with
    ``resume_sweep``); the others are kept.
    """
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    children0 = _children_cpu()
    sweep.path.mkdir(parents=True, exist_ok=True)
    sweep.save()
    threads_per_worker(parallel, cores)  # validates --parallel
    workers = max(1, min(parallel, len(pending_variants(sweep))))  # no idle worker holds cores
    threads = threads_per_worker(workers, cores)
    tasks, states = plan_tasks(sweep, threads)
    skipped = [name for name in states if name not in {t.name for t in tasks}]
    counts = {s: sum(1 for v in states.values() if v == s) for s in ("finished", "partial", "new")}
    log(f"sweep {sweep.path}: {len(sweep.variants)} runs ({sweep.mode}, {len(sweep.seeds)} seed(s)); "
        f"{counts['finished']} finished, {counts['partial']} to resume, {counts['new']} to start; "
        f"{workers} worker(s) x {threads} thread(s)")

    def progress(result: TaskResult, done: int, total: int) -> None:
        status = "failed" if result.error else ("trained" + (" and evaluated" if result.evaluated else "") if result.trained else "evaluated")
        log(f"[{done}/{total}] {result.name}: {status} in {result.wall_s:.1f} s" + (f"\n    {result.error.splitlines()[-1]}" if result.error else ""))

    if any(t.evaluation is not None for t in tasks):
        prepare_evaluation(sweep, log)
    try:
        results = execute(tasks, workers, threads, progress)
    except KeyboardInterrupt:
        print(f"sweep interrupted; continue it with `genimg sweep --resume {sweep.path}`", file=sys.stderr)
        raise
    report_path = None
    if report:
        from genimg.experiments.report import build_report

        report_path = build_report([sweep.path])
        log(f"report: {report_path}")
    outcome = SweepOutcome(sweep, results, skipped, report_path, time.perf_counter() - wall0,
                           time.process_time() - cpu0 + _children_cpu() - children0)
    log(f"sweep done in {outcome.wall_s:.0f} s wall, {outcome.cpu_s:.0f} s CPU")
    if outcome.failed:
        names = ", ".join(r.name for r in outcome.failed)
        first = outcome.failed[0].error.strip().splitlines()[-1]
        raise UserError(f"{len(outcome.failed)} of {len(results)} runs failed ({names}); first error: {first}. "
                        f"Fix it and continue with `genimg sweep --resume {sweep.path}`")
    return outcome


def resume_sweep(path: str | Path, *, parallel: int = 1, report: bool = True, quiet: bool = False) -> SweepOutcome:
    """Continue an interrupted sweep: skip finished runs, resume half-trained ones, start the rest."""
    sweep = Sweep.load(path)
    return run_sweep(sweep, parallel=parallel, report=report, quiet=quiet)


def _children_cpu() -> float:
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
    except ImportError:  # Windows
        return 0.0


def evaluation_settings(n: int | None = None, features: str | None = None, seed: int | None = None,
                        seeds: int | None = None, likelihood_k: int | None = None) -> dict[str, Any]:
    """The evaluator's keyword arguments (genimg.evaluate.evaluator.evaluate_run) that a sweep
    records and applies to every run; None leaves the evaluator's default."""
    settings: dict[str, Any] = {"features": features or "classifier", "seed": 0 if seed is None else seed}
    if settings["features"] not in available_extractors():
        raise UserError(f"unknown feature extractor '{features}'; choose one of {', '.join(available_extractors())}")
    for name, value, least in (("n", n, 2), ("seeds", seeds, 1), ("likelihood_k", likelihood_k, 1)):
        if value is not None:
            if value < least:
                raise UserError(f"the evaluation's {name} must be at least {least}, got {value}")
            settings[name] = value
    return settings
