"""The one training loop every model family uses.

It never branches on the family: it batches the data (index slices of tensors in memory, or
a DataLoader over a split too large for memory: ``loader.py``), calls the model's
``training_step`` with a ``Stepper`` (backward, gradient averaging across ranks, clipping,
optimiser step), keeps an EMA if asked, evaluates, selects the best checkpoint by val loss or
FID, stops early, draws sample grids with a fixed seed, and writes everything to the run
directory. Resuming restores weights, optimisers, RNG states and counters, so a resumed run
continues exactly as if it had never stopped.

Before any of that, the config is validated (``validate_config``, ``check_data``): a run that could only fail
later is refused before data loads. Once its directory exists, it is locked against a second
trainer (``runs/lock.py``) and its status in summary.json says what happened to it (running,
finished, failed, interrupted, diverged). A non-finite loss or gradient stops the run
(``guard.py``); Ctrl-C stops it between steps (``interrupt.py``); either way the last checkpoint
is left as it was and the message says what to do next. ``--resume`` on a run that has no
checkpoint yet starts it again from the beginning, which is exactly what resuming it would be.

A run lasts ``train.epochs`` epochs, or, with ``train.budget`` (``5m`` of CPU time, ``wall:5m``),
until the loop has spent its budget: training steps and the evaluations during training count,
and it stops at the epoch boundary nearest the budget, predicted from the mean cost of an epoch
so far. Nothing in training depends on the budget (no schedule reads the run's length), so the
epochs it reached, replayed with ``epochs=N budget=null``, give the same weights bit for bit.

Under torchrun each rank takes an equal shard of every global batch; gradients are averaged
with torch.distributed, so all ranks hold identical parameters. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from tqdm.auto import tqdm

from genimg.config.families import get_family
from genimg.config.run_config import RunConfig, check_choices, parse_budget
from genimg.data.dataset import ImageDataset
from genimg.data.registry import expected_spec
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.evaluate.evaluator import TrainingEvaluator
from genimg.io import append_jsonl, write_errors, write_json, write_text
from genimg.models.base import Batch, GenerativeModel, build_model
from genimg.models.precision import autocast, resolve_precision, use_channels_last
from genimg.models.stepper import Stepper
from genimg.rng import fixed_seed, rng_state
from genimg.runs.checkpoint import readable, save_checkpoint, settle
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.runs.lock import RunLock
from genimg.runs.status import mark, mark_quietly, new_run_path, refuse_taken
from genimg.train.batches import evaluate_loss, load_splits
from genimg.train.device import device_kind, prepare_device, select_device
from genimg.train.distributed import (
    DistInfo,
    agree,
    all_gather_objects,
    all_reduce_sums,
    barrier,
    broadcast_module,
    init_distributed,
)
from genimg.train.ema import EMA
from genimg.train.finish import describe, finish, save_sample_grid
from genimg.train.guard import Diverged, DivergenceGuard
from genimg.train.interrupt import StopRequest, TrainingInterrupted, stop_at_clean_points
from genimg.train.loader import loader_workers, training_batches
from genimg.train.loggers import Logger, NoLogger, make_logger
from genimg.train.state import TrainResult, TrainState, restore_training, trim_metrics
from genimg.train.tensorboard import require_tensorboard


def validate_config(config: RunConfig) -> None:
    """Validation before any work: a config that can only fail later is refused now, in one line,
    before any data loads, with the data's shape and levels worked out from the dataset's name."""
    check_choices(config)
    if config.train.logger == "tensorboard":
        require_tensorboard()  # a missing optional extra is refused before the run directory exists
    spec = expected_spec(config.data)  # also refuses an unknown dataset name
    if spec is not None:
        check_data(config, spec)


def check_data(config: RunConfig, spec: DataSpec) -> None:
    """Refuse a model config that cannot work on data of this shape, levels and classes (run again
    on the loaded data: the only check a user's own folder or npz gets)."""
    if getattr(config.model, "conditional", False) and spec.num_classes < 2:
        raise UserError(
            f"conditional=true needs labelled data, and {config.data.dataset} has no classes; "
            "give the images class subfolders (or labels in the npz), or set conditional=false"
        )
    family = get_family(config.family)
    if family.check_data is not None:
        family.check_data(config.model, spec)


def train(
    config: RunConfig,
    *,
    resume: str | Path | None = None,
    run_dir: str | Path | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train a model from a config, writing a run directory; or resume one (``resume=RUN``)."""
    validate_config(config)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    info = init_distributed(device_kind(config.train.device))
    device = select_device(config.train.device, info)
    prepare_device(device)
    log = (lambda *a: None) if quiet or not info.is_main else print

    path = Path(resume) if resume else Path(run_dir) if run_dir else new_run_path(config)
    run = RunDir(path)
    splits = load_splits(config, device)
    spec = DataSpec.of(splits["train"], dequantized=config.data.dequantize == "uniform")
    check_data(config, spec)  # a user's own data is only known now; still before anything is written
    session = build_session(config, spec, device, info)
    if session.channels_last:
        splits = {name: split.channels_last() for name, split in splits.items()}
    lock = RunLock(run.path, note=lambda text: print(text, file=sys.stderr)) if info.is_main else None
    with lock or contextlib.nullcontext():
        if info.is_main:
            settle(run.checkpoint("last"))  # a checkpoint swap a kill interrupted
            settle(run.checkpoint("best"))
            if not resume and run_dir is None:
                refuse_taken(run)  # again, now that no other trainer can be in this directory
        barrier(info)
        if resume and readable(run.checkpoint("last")).exists():
            session.restore(run, log)
        else:
            if resume:
                log(f"{run.path} has no checkpoint yet: starting it from the beginning")
            session.start(run, spec)
        barrier(info)
        return session.run(run, splits, device, quiet, log)


def build_session(
    config: RunConfig, spec: DataSpec, device: torch.device | None = None, info: DistInfo | None = None
) -> TrainingSession:
    """The model, optimisers, EMA and precision exactly as ``train`` sets them up, ready for
    ``session.step(batch)``: what benchmarks time, so that they time the trainer's own step."""
    device = device or torch.device("cpu")
    torch.manual_seed(config.train.seed)  # identical initial weights on every rank
    model = build_model(config.family, config.model, spec).to(device)
    precision = resolve_precision(config.train.precision, device, spec.image_size)
    channels_last = use_channels_last(model, spec.image_size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
    return TrainingSession(config, model, info or DistInfo(), precision, channels_last)


class EpochSums:
    """The sums behind an epoch's mean training scalars, kept on the device.

    Adding a step's scalars is a few device ops, never a host sync; the epoch's means come back in
    one transfer at its end. The arithmetic is what converting each scalar with ``float()`` and
    summing in Python did (float64, value x batch size, in step order), so the numbers in
    metrics.jsonl are the same to the last bit. (Not on Apple's MPS, which has no float64: there
    the sums are float32, on the device, rather than a host sync at every step.)
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.dtype = torch.float32 if torch.device(device).type == "mps" else torch.float64
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, outputs: dict[str, Any], batch_size: int) -> None:
        for key, value in outputs.items():
            # float64 from the start: a Python float stays exact, as float() kept it.
            term = torch.as_tensor(value, dtype=self.dtype).detach().to(self.device) * batch_size
            self.sums[key] = term if key not in self.sums else self.sums[key] + term
        self.count += batch_size

    def totals(self) -> dict[str, float]:
        """Every sum as a float (one host transfer), and ``_count``: the images they cover."""
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).tolist() if keys else []
        return {**dict(zip(keys, values)), "_count": float(self.count)}


class TrainingSession:
    """One run's model, optimisers, EMA, counters and RNG, from its start or checkpoint to its end."""

    def __init__(
        self, config: RunConfig, model: GenerativeModel, info: DistInfo, precision: str, channels_last: bool = False
    ) -> None:
        tc = config.train
        self.config = config
        self.model = model
        self.info = info
        self.precision = precision
        self.channels_last = channels_last
        self.budget = parse_budget(tc.budget) if tc.budget else None
        self.optimizers = model.configure_optimizers()
        self.ema = (
            EMA(model, tc.ema_decay, model.ema_parameter_names(), sigma_rel=tc.ema_sigma_rel)
            if tc.ema_decay or tc.ema_sigma_rel
            else None
        )
        self.shuffle = torch.Generator().manual_seed(tc.seed)
        self.state = TrainState()
        self.logger: Logger = NoLogger()  # the real one once the run directory exists (start / restore)
        self.stepper = Stepper(
            self.optimizers,
            tc.grad_clip,
            info.world_size,
            scale_gradients=precision == "fp16",
            watch=True,
            skip_nonfinite=tc.skip_nonfinite > 0,
        )
        self.guard = DivergenceGuard(tc.skip_nonfinite, precision, info)
        self.saved_epoch: int | None = None  # the epoch the last checkpoint holds (None: none yet)

    def step(self, batch: Batch) -> dict[str, Any] | None:
        """One training step, the loop's body: the model's update under autocast, the divergence
        guard, the EMA. Returns the step's scalars, or None when a non-finite step was skipped."""
        self.stepper.begin_step()
        with autocast(self.precision, self.model.device):
            out = self.model.training_step(batch, self.stepper)
        state = self.state
        state.step += 1
        if self.guard.after_step(self.stepper, out, state.step, state.epoch + 1, state.nonfinite_skipped):
            state.nonfinite_skipped += 1  # no update was made: left out of the epoch's means
            return None
        if self.ema is not None:  # the updates so far, this one in: counted from the state, so a resume continues it
            self.ema.update(self.model, state.step - state.nonfinite_skipped)
        return out

    def run(self, run: RunDir, splits: dict[str, ImageDataset], device: torch.device, quiet: bool, log) -> TrainResult:
        """The loop, then the kept weights' final scores; the run's status says how it ended."""
        config, info = self.config, self.info
        try:
            with stop_at_clean_points(enabled=not info.enabled) as stop:
                self.loop(run, splits, device, quiet, log, stop)
                if stop.requested:  # asked for during the last epoch's evaluation: before the final one
                    raise TrainingInterrupted
            kept = run.checkpoint("best") if self.state.best_epoch > 0 else run.checkpoint("last")
            barrier(info)
            final = load_model(run.path, which=kept.name, device=device)
            summary: dict[str, Any] = {}
            if info.is_main:
                progress = config.train.progress and not quiet
                summary = finish(run, final, config, splits, self.state, kept.name, self.precision, progress=progress)
                self.logger.finish(config, summary)
                log(describe(run, summary))
            barrier(info)
        except Diverged as error:
            where = (
                f"the last good checkpoint, {run.checkpoint('last')} (epoch {self.saved_epoch}), is untouched"
                if self.saved_epoch is not None
                else "nothing had been checkpointed"
            )
            error = Diverged(f"{error}; {where}")
            if info.is_main:
                mark_quietly(run, "diverged", error=str(error), **self._where())
            raise error from None
        except KeyboardInterrupt:
            message = self._interrupted(run)
            if info.is_main:
                mark_quietly(run, "interrupted", error=message, **self._where())
            raise TrainingInterrupted(message) from None
        except Exception as error:
            if info.is_main:
                mark_quietly(run, "failed", error=f"{type(error).__name__}: {error}", **self._where())
            raise
        return TrainResult(run, final, summary)

    def _where(self) -> dict[str, Any]:
        return {"epochs_trained": self.state.epoch, "step": self.state.step, "checkpoint_epoch": self.saved_epoch}

    def _spent(self) -> float:
        """The budget's clock so far: the loop's CPU (or wall) seconds, summed over resumes."""
        assert self.budget is not None
        return self.state.loop_wall_s if self.budget.clock == "wall" else self.state.loop_cpu_s

    def _complete(self) -> bool:
        """Whether the run has trained all it was asked to: its epochs, or its budget (to the
        nearest epoch boundary; a run resumed with a larger budget goes on)."""
        if self.budget is None:
            return self.state.epoch >= self.config.train.epochs
        return self.state.epoch > 0 and self._nearest_boundary(self._spent(), self.state.epoch)

    def _nearest_boundary(self, spent: float, epochs: int) -> bool:
        """Whether stopping after ``epochs`` epochs that cost ``spent`` is nearer the budget than one
        more epoch of the mean cost so far (its evaluations in)."""
        assert self.budget is not None
        return spent + spent / epochs / 2 >= self.budget.seconds

    def _budget_reached(self, epoch: int, loop_cpu0: float, loop_wall0: float, device: torch.device) -> bool:
        """After training epoch ``epoch`` (0-based), whether the budget ends the run here."""
        assert self.budget is not None
        spent = self._spent() + (
            time.perf_counter() - loop_wall0 if self.budget.clock == "wall" else time.process_time() - loop_cpu0
        )
        return agree(self._nearest_boundary(spent, epoch + 1), self.info, device)

    def _interrupted(self, run: RunDir) -> str:
        if self._complete():
            return f"stopped during the final evaluation; `genimg train --resume {run.path}` finishes the run"
        kept = (
            f"{run.checkpoint('last')} holds epoch {self.saved_epoch}"
            if self.saved_epoch is not None
            else "nothing was checkpointed yet"
        )
        return (
            f"stopped at step {self.state.step} (epoch {self.state.epoch + 1}); {kept}; "
            f"continue with `genimg train --resume {run.path}`"
        )

    @property
    def eval_model(self) -> GenerativeModel:
        return cast(GenerativeModel, self.ema.module) if self.ema is not None else self.model

    # --- beginning: fresh, or from the last checkpoint ------------------------------------------
    def start(self, run: RunDir, spec: DataSpec) -> None:
        broadcast_module(self.model, self.info)
        if self.ema is not None:
            broadcast_module(self.ema.module, self.info)
        # Each rank draws its own noise (reparameterisation, GAN latents, diffusion timesteps).
        torch.manual_seed(self.config.train.seed + 104729 * self.info.rank)
        if self.info.is_main:
            with write_errors(run.path):
                run.path.mkdir(parents=True, exist_ok=True)
            write_text(run.config_file, self.config.to_yaml())
            write_json(run.spec_file, spec.to_dict())
            write_json(run.summary_file, {})  # a new run: nothing from an earlier one in this directory
            mark(run, "running", family=self.config.family, dataset=self.config.data.dataset)
            self.logger = make_logger(self.config, run)
            if run.metrics_file.exists():
                run.metrics_file.unlink()

    def restore(self, run: RunDir, log) -> None:
        restore_training(self, run)
        self.saved_epoch = self.state.epoch
        if self.info.is_main:  # epochs logged after the checkpoint will be trained again
            trim_metrics(run, self.state.epoch)
            # The record is the config the run continues with (`--resume RUN epochs=80` says 80).
            write_text(run.config_file, self.config.to_yaml())
            mark(run, "running", clear=("error", "step", "checkpoint_epoch"))  # what the last stop recorded
            self.logger = make_logger(self.config, run)
        log(f"resuming {run.path} after epoch {self.state.epoch}")

    # --- the loop ----------------------------------------------------------------------------
    def loop(
        self, run: RunDir, splits: dict[str, ImageDataset], device: torch.device, quiet: bool, log, stop: StopRequest
    ) -> None:
        tc, info, state, budget = self.config.train, self.info, self.state, self.budget
        # FID during training is measured against the val split: the test split stays unseen by selection.
        monitor = (
            TrainingEvaluator(splits["val"], n=tc.fid_samples, device=device, data=self.config.data)
            if tc.fid_every
            else None
        )
        length = f"for {budget.describe()}" if budget is not None else f"{tc.epochs} epochs"
        log(
            f"training {self.config.family} ({self.model.num_parameters():,} parameters) on {self.config.data.dataset} "
            f"[{len(splits['train'])} train images{' streamed from disk' if splits['train'].mapped else ''}, "
            f"{device}, {self.precision}, world size {info.world_size}] {length} "
            f"-> {run.path}"
        )
        last_checkpoint = time.perf_counter()
        best_weights = None
        hidden = not (tc.progress and info.is_main and not quiet)
        epochs: Iterator[int]
        if budget is None:
            epochs = iter(range(state.epoch, tc.epochs))
            bar = tqdm(
                desc="epochs", disable=hidden, initial=state.epoch, total=tc.epochs, dynamic_ncols=True, leave=False
            )
        else:  # the budget decides the length: the bar counts its seconds
            epochs = itertools.count(state.epoch) if not self._complete() else iter(())
            unit = "CPU-s" if budget.clock == "cpu" else "s"
            bar = tqdm(
                desc=f"budget ({budget.describe()})",
                unit=unit,
                disable=hidden,
                initial=min(round(self._spent()), round(budget.seconds)),
                total=round(budget.seconds),
                dynamic_ncols=True,
                leave=False,
            )
        for epoch in epochs:
            loop_cpu0, loop_wall0 = time.process_time(), time.perf_counter()
            record = self.train_epoch(epoch, splits["train"], device, bar, stop)
            if budget is None:
                last_epoch = epoch + 1 == tc.epochs
            else:
                last_epoch = state.stopped_by_budget = self._budget_reached(epoch, loop_cpu0, loop_wall0, device)
            score = self.evaluate_epoch(epoch, record, splits, monitor, last_epoch)
            improved = score is not None and score < state.best_score
            if score is not None:
                if improved:
                    state.best_score, state.best_epoch, state.epochs_without_improvement = score, epoch + 1, 0
                else:
                    state.epochs_without_improvement += 1
            record["time_s"] = round(state.elapsed_s, 3)
            record["cpu_s"] = round(state.cpu_s, 3)
            state.epoch = epoch + 1
            if info.is_main:
                if tc.sample_every and ((epoch + 1) % tc.sample_every == 0 or last_epoch):
                    grid = save_sample_grid(
                        self.eval_model,
                        run.samples_dir / f"epoch_{epoch + 1:04d}.png",
                        tc.seed,
                        self.precision,
                        **self.eval_model.monitoring_sample_options(),
                    )
                    self.logger.images("samples", grid, epoch + 1)
                append_jsonl(run.metrics_file, record)
                self.logger.epoch(record)
            if improved:  # held in memory, written with the next checkpoint
                best_weights = self._snapshot()
            early = tc.patience is not None and state.epochs_without_improvement >= tc.patience
            state.stopped_early = early and not last_epoch
            # The loop's own clock (steps, evaluations, grids) is what a budget counts; taken
            # before the checkpoint so that the checkpoint holds it.
            state.loop_cpu_s += time.process_time() - loop_cpu0
            state.loop_wall_s += time.perf_counter() - loop_wall0
            if (
                agree(time.perf_counter() - last_checkpoint >= tc.checkpoint_every_s, info, device)
                or early
                or last_epoch
                or stop.requested  # Ctrl-C during this epoch's evaluation: keep the epoch, then stop
            ):
                self.checkpoint(run, best_weights)
                best_weights = None
                last_checkpoint = time.perf_counter()
            if budget is None:
                bar.update(1)
            else:
                bar.update(max(0, min(round(self._spent()), round(budget.seconds)) - bar.n))
                bar.set_postfix(epoch=epoch + 1, refresh=False)
            if early:
                log(f"stopping early after epoch {epoch + 1}: no better {tc.select_by} for {tc.patience} evaluations")
                break
            if last_epoch:
                break
        bar.close()

    def train_epoch(self, epoch: int, data: ImageDataset, device: torch.device, bar, stop: StopRequest) -> dict:
        tc, state = self.config.train, self.state
        wall0, cpu0 = time.perf_counter(), time.process_time()
        self.model.train()
        sums = EpochSums(device)
        skipped, shown = 0, 0.0
        workers = loader_workers(self.config.data)
        for images, labels in training_batches(data, tc.batch_size, self.shuffle, self.info, device, workers):
            if stop.requested:
                raise TrainingInterrupted
            out = self.step(Batch(images, labels))
            if out is None:
                skipped += 1
                continue
            sums.add(out, len(labels))
            # The bar's loss costs a host sync: only for a bar someone sees, twice a second at most.
            if "loss" in out and not bar.disable and time.perf_counter() - shown > 0.5:
                bar.set_postfix(loss=f"{float(out['loss']):.3f}", refresh=False)
                shown = time.perf_counter()
        totals = all_reduce_sums(sums.totals(), self.info, device)
        count = totals.pop("_count")
        state.elapsed_s += time.perf_counter() - wall0
        state.cpu_s += time.process_time() - cpu0
        means = {k: v / count for k, v in totals.items()} if count else {}
        record = {"epoch": epoch + 1, "step": state.step, "train": means}
        if skipped:
            record["nonfinite_skipped"] = skipped
        return record

    def evaluate_epoch(
        self,
        epoch: int,
        record: dict[str, Any],
        splits: dict[str, ImageDataset],
        monitor: TrainingEvaluator | None,
        last_epoch: bool,
    ) -> float | None:
        """Val/test losses and FID as due this epoch, into ``record``; returns the selection score."""
        tc = self.config.train
        score = None
        if (epoch + 1) % tc.eval_every == 0 or last_epoch:
            # Evaluation draws its own noise (a GAN's fakes, a VAE's z): from a fixed seed, so the
            # training stream is the same whether or not this epoch was evaluated, and a run
            # resumed after its last (always evaluated) epoch continues exactly.
            workers = loader_workers(self.config.data)
            with fixed_seed(tc.seed + 3 + epoch):
                for split in ("val", "test"):
                    record[split] = evaluate_loss(self.eval_model, splits[split], tc.batch_size, self.info, workers)
            if tc.select_by == "val_loss":
                score = record["val"]["loss"]
        if monitor is not None and ((epoch + 1) % tc.fid_every == 0 or last_epoch):
            self.eval_model.eval()
            with fixed_seed(tc.seed + 7 + epoch):
                with autocast(self.precision, self.model.device):  # the samples; FID itself in float64
                    record.update(monitor(self.eval_model))  # fid (vs the val split), class entropy
            if tc.select_by == "fid":
                score = record["fid"]
        return score

    def checkpoint(self, run: RunDir, best_weights: tuple[torch.nn.Module, torch.nn.Module | None] | None) -> None:
        # Every rank's RNG state is saved so that each continues its own noise stream on resume.
        mine = rng_state({"shuffle": self.shuffle})
        rngs = all_gather_objects(mine, self.info) if self.info.enabled else mine
        if self.info.is_main:
            if best_weights is not None:
                weights, ema_weights = best_weights
                save_checkpoint(run.checkpoint("best"), weights, ema_weights, None, {"epoch": self.state.best_epoch})
            save_checkpoint(
                run.checkpoint("last"),
                self.model,
                self.ema.module if self.ema else None,
                {
                    "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                    "trainer": self.state.to_dict(),
                    "rng": rngs,
                    "scalers": self.stepper.state_dict(),
                },
                {"epoch": self.state.epoch, "step": self.state.step},
            )
        self.saved_epoch = self.state.epoch
        barrier(self.info)

    def _snapshot(self) -> tuple[torch.nn.Module, torch.nn.Module | None]:
        """A detached copy of the weights (and EMA weights) to write as the best checkpoint later."""
        ema = copy.deepcopy(self.ema.module).cpu() if self.ema is not None else None
        return copy.deepcopy(self.model).cpu(), ema
