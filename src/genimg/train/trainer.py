"""The one training loop every model family uses.

It never branches on the family: it batches in-memory tensors, calls the model's
``training_step`` with a ``Stepper`` (backward, gradient averaging across ranks, clipping,
optimiser step), keeps an EMA if asked, evaluates, selects the best checkpoint by val loss or
FID, stops early, draws sample grids with a fixed seed, and writes everything to the run
directory. Resuming restores weights, optimisers, RNG states and counters, so a resumed run
continues exactly as if it had never stopped.

Under torchrun each rank takes an equal shard of every global batch; gradients are averaged
with torch.distributed, so all ranks hold identical parameters. Only rank 0 writes files.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from tqdm.auto import tqdm

from genimg.config.run_config import RunConfig
from genimg.data.dataset import ImageDataset
from genimg.data.spec import DataSpec
from genimg.data.splits import load_split
from genimg.errors import UserError
from genimg.evaluate.likelihood import test_log_likelihood
from genimg.evaluate.training_fid import TrainingEvaluator
from genimg.images import save_grid, save_pairs
from genimg.io import append_jsonl, write_json, write_text
from genimg.models.base import Batch, GenerativeModel
from genimg.models.build import build_model
from genimg.models.stepper import Stepper
from genimg.rng import fixed_seed, rng_state, set_rng_state
from genimg.runs.checkpoint import load_state, load_weights, save_checkpoint
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
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

SAMPLE_GRID_SEED = 1234  # the fixed noise behind every sample grid, so grids are comparable across epochs


@dataclass
class TrainState:
    """Counters that, with the weights, optimisers and RNG states, make a resume exact."""

    epoch: int = 0  # epochs completed
    step: int = 0
    best_score: float = math.inf
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    elapsed_s: float = 0.0  # wall time spent training, summed over resumes
    cpu_s: float = 0.0  # process CPU time, summed over resumes
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    run: RunDir
    model: GenerativeModel  # the kept weights (EMA where there is one), in eval mode
    summary: dict[str, Any]


def select_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
        if name == "cuda":
            name = f"cuda:{info.local_rank}"
    elif name != "cpu":
        raise UserError(f"train.device must be auto, cpu, cuda or cuda:N, got '{name}'")
    return torch.device(name)


def make_run_dir(config: RunConfig) -> Path:
    name = config.train.run_name or f"{config.family}-{config.data.dataset.replace(':', '_').replace('/', '_')}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    path = Path(config.train.out) / name
    if (path / "checkpoints").exists():
        raise UserError(f"run directory {path} already has checkpoints; resume it with `genimg train --resume {path}` or pick another train.run_name")
    return path


def load_splits(config: RunConfig, device: torch.device) -> dict[str, ImageDataset]:
    splits = {s: load_split(config.data, s, device) for s in ("train", "val", "test")}
    if len(splits["train"]) == 0:
        raise UserError(f"dataset '{config.data.dataset}' has no training images with these options")
    return splits


def iterate_batches(n: int, batch_size: int, generator: torch.Generator, info: DistInfo) -> Iterator[torch.Tensor]:
    """Shuffled global batches; each rank yields its equal shard of every global batch."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        global_batch = order[start : start + batch_size]
        if info.enabled and len(global_batch) < info.world_size:
            continue  # a final batch too small to shard: skip it on every rank alike
        yield global_batch[info.rank :: info.world_size]


@torch.no_grad()
def evaluate_loss(model: GenerativeModel, data: ImageDataset, batch_size: int, info: DistInfo) -> dict[str, float]:
    """Mean of validation_step's scalars over a split (sharded over ranks)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    idx = torch.arange(len(data))[info.rank :: info.world_size]
    for start in range(0, len(idx), batch_size):
        b = idx[start : start + batch_size]
        out = model.validation_step(Batch(data.images[b], data.labels[b]))
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(b)
        count += len(b)
    model.train(was_training)
    sums["_count"] = float(count)
    sums = all_reduce_sums(sums, info, data.images.device)
    n = sums.pop("_count")
    return {k: v / n for k, v in sums.items()} if n else {}


def train(
    config: RunConfig,
    *,
    resume: str | Path | None = None,
    run_dir: str | Path | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train a model from a config, writing a run directory; or resume one (``resume=RUN``)."""
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    info = init_distributed("cuda" if config.train.device.startswith("cuda") or (config.train.device == "auto" and torch.cuda.is_available()) else "cpu")
    device = select_device(config.train.device, info)
    tc = config.train
    log = (lambda *a: None) if quiet or not info.is_main else print

    path = Path(resume) if resume else Path(run_dir) if run_dir else make_run_dir(config)
    run = RunDir(path)

    splits = load_splits(config, device)
    spec = DataSpec.of(splits["train"])
    torch.manual_seed(tc.seed)  # identical initial weights on every rank
    model = build_model(config.family, config.model, spec).to(device)
    optimizers = model.configure_optimizers()
    ema = EMA(model, tc.ema_decay, model.ema_parameter_names()) if tc.ema_decay else None
    shuffle_gen = torch.Generator().manual_seed(tc.seed)
    state = TrainState()

    if resume:
        last = run.checkpoint("last")
        load_weights(model, last / "model.safetensors")
        if ema is not None:
            load_weights(ema.module, last / "ema.safetensors")
        saved = load_state(last / "state.pt")
        for name, opt in optimizers.items():
            opt.load_state_dict(saved["optimizers"][name])
        state = TrainState(**saved["trainer"])
        set_rng_state(saved["rng"][info.rank] if isinstance(saved["rng"], list) else saved["rng"], {"shuffle": shuffle_gen})
        if info.is_main:  # epochs logged after the checkpoint will be trained again
            kept_records = [r for r in run.metrics() if r["epoch"] <= state.epoch]
            write_text(run.metrics_file, "".join(json.dumps(r) + "\n" for r in kept_records))
        log(f"resuming {path} after epoch {state.epoch}")
    else:
        broadcast_module(model, info)
        if ema is not None:
            broadcast_module(ema.module, info)
        # Each rank draws its own noise (reparameterisation, GAN latents, diffusion timesteps).
        torch.manual_seed(tc.seed + 104729 * info.rank)
        if info.is_main:
            path.mkdir(parents=True, exist_ok=True)
            write_text(run.config_file, config.to_yaml())
            write_json(run.spec_file, spec.to_dict())
            if run.metrics_file.exists():
                run.metrics_file.unlink()
    barrier(info)

    stepper = Stepper(optimizers, tc.grad_clip, info.world_size)
    training_evaluator = _training_evaluator(config, splits, device) if tc.fid_every else None
    n_train = len(splits["train"])
    log(f"training {config.family} ({model.num_parameters():,} parameters) on {config.data.dataset} "
        f"[{n_train} train images, {device}, world size {info.world_size}] -> {path}")

    last_checkpoint = time.perf_counter()
    best_weights = None
    epoch_bar = tqdm(range(state.epoch, tc.epochs), desc="epochs", disable=not (tc.progress and info.is_main and not quiet),
                     initial=state.epoch, total=tc.epochs, dynamic_ncols=True, leave=False)
    for epoch in epoch_bar:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        model.train()
        sums: dict[str, float] = {}
        seen = 0
        for local in iterate_batches(n_train, tc.batch_size, shuffle_gen, info):
            out = model.training_step(Batch(splits["train"].images[local], splits["train"].labels[local]), stepper)
            if ema is not None:
                ema.update(model)
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(local)
            seen += len(local)
            state.step += 1
            if "loss" in out:
                epoch_bar.set_postfix(loss=f"{float(out['loss']):.3f}", refresh=False)
        sums["_count"] = float(seen)
        sums = all_reduce_sums(sums, info, device)
        count = sums.pop("_count")
        record: dict[str, Any] = {"epoch": epoch + 1, "step": state.step, "train": {k: v / count for k, v in sums.items()}}
        state.elapsed_s += time.perf_counter() - wall0
        state.cpu_s += time.process_time() - cpu0

        eval_model = ema.module if ema is not None else model
        last_epoch = epoch + 1 == tc.epochs
        score = None
        if (epoch + 1) % tc.eval_every == 0 or last_epoch:
            # Evaluation draws its own noise (a GAN's fakes, a VAE's z): from a fixed seed, so the
            # training stream is the same whether or not this epoch was evaluated, and a run
            # resumed after its last (always evaluated) epoch continues exactly.
            with fixed_seed(tc.seed + 3 + epoch):
                record["val"] = evaluate_loss(eval_model, splits["val"], tc.batch_size, info)
                record["test"] = evaluate_loss(eval_model, splits["test"], tc.batch_size, info)
            if tc.select_by == "val_loss":
                if "loss" not in record["val"]:
                    raise UserError(f"{config.family} has no validation loss; use train.select_by=fid with train.fid_every=K")
                score = record["val"]["loss"]
        if training_evaluator is not None and ((epoch + 1) % tc.fid_every == 0 or last_epoch):
            eval_model.eval()
            with fixed_seed(tc.seed + 7 + epoch):
                record.update(training_evaluator(eval_model))  # fid (vs the val split), class entropy
            if tc.select_by == "fid":
                score = record["fid"]

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
                _save_sample_grid(eval_model, run.samples_dir / f"epoch_{epoch + 1:04d}.png", tc.seed,
                                  **eval_model.monitoring_sample_options())
            append_jsonl(run.metrics_file, record)
        if improved:  # held in memory, written with the next checkpoint
            best_weights = _snapshot(model, ema)
        stop = tc.patience is not None and state.epochs_without_improvement >= tc.patience
        state.stopped_early = stop and not last_epoch
        due = agree(time.perf_counter() - last_checkpoint >= tc.checkpoint_every_s, info, device)
        if due or stop or last_epoch:
            # Every rank's RNG state is saved so that each continues its own noise stream on resume.
            rngs = _gather_rng(info, {"shuffle": shuffle_gen})
            if info.is_main:
                if best_weights is not None:
                    save_checkpoint(run.checkpoint("best"), *best_weights, None)
                    best_weights = None
                save_checkpoint(run.checkpoint("last"), model, ema.module if ema else None, {
                    "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                    "trainer": state.to_dict(),
                    "rng": rngs,
                })
            last_checkpoint = time.perf_counter()
            barrier(info)
        if stop:
            log(f"stopping early after epoch {epoch + 1}: no better {tc.select_by} for {tc.patience} evaluations")
            break
    epoch_bar.close()

    # The kept weights: the best checkpoint (or the last one when nothing selected a best).
    kept = run.checkpoint("best") if state.best_epoch > 0 else run.checkpoint("last")
    barrier(info)
    final = load_model(run.path, which=kept.name, device=device)
    summary: dict[str, Any] = {}
    if info.is_main:
        summary = _finish(run, final, config, splits, state, kept.name, progress=tc.progress and not quiet)
        log(_describe(run, summary))
    barrier(info)
    return TrainResult(run, final, summary)


def _snapshot(model: torch.nn.Module, ema: EMA | None) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """A detached copy of the weights (and EMA weights) to write as the best checkpoint later."""
    return copy.deepcopy(model).cpu(), copy.deepcopy(ema.module).cpu() if ema is not None else None


def _gather_rng(info: DistInfo, generators: dict[str, torch.Generator]) -> Any:
    """This rank's RNG state, or (under torchrun) every rank's, in rank order."""
    mine = rng_state(generators)
    return all_gather_objects(mine, info) if info.enabled else mine


def _training_evaluator(config: RunConfig, splits: dict[str, ImageDataset], device: torch.device):
    # FID during training is measured against the val split: the test split stays unseen by selection.
    return TrainingEvaluator(splits["val"], n=config.train.fid_samples, device=device, data=config.data)


def _save_sample_grid(model: GenerativeModel, path: Path, seed: int, **sample_options: Any) -> None:
    model.eval()
    with fixed_seed(seed + SAMPLE_GRID_SEED), torch.inference_mode():
        images = model.sample(64, progress=False, **sample_options)
    save_grid(images, path, nrow=8)


def _finish(run: RunDir, model: GenerativeModel, config: RunConfig, splits: dict[str, ImageDataset], state: TrainState, kept: str,
            progress: bool) -> dict[str, Any]:
    """Final pictures and scores from the kept weights, and summary.json."""
    tc = config.train
    test = splits["test"]
    _save_sample_grid(model, run.path / "samples.png", tc.seed)
    summary: dict[str, Any] = {
        "family": config.family,
        "dataset": config.data.dataset,
        "parameters": model.num_parameters(),
        "epochs_trained": state.epoch,
        "best_epoch": state.best_epoch,
        "select_by": tc.select_by,
        "best_score": state.best_score if state.best_epoch > 0 else None,
        "stopped_early": state.stopped_early,
        "train_time_s": round(state.elapsed_s, 2),
        "train_cpu_s": round(state.cpu_s, 2),
        "kept_checkpoint": kept,
    }
    if model.has("reconstruct"):
        with torch.inference_mode():
            x, y = test.images[:32], test.labels[:32]
            recon = model.reconstruct(x, y if model.conditional else None)
        save_pairs(x, recon, run.path / "reconstructions.png")
    with fixed_seed(tc.seed + 99):
        test_loss = evaluate_loss(model, test, tc.batch_size, DistInfo())
    if test_loss:
        summary["test"] = test_loss
    if model.has("likelihood") and tc.likelihood_at_end:
        with fixed_seed(tc.seed + 101):
            summary["likelihood"] = test_log_likelihood(model, test, k=tc.likelihood_k, progress=progress)
    summary["finished"] = True
    write_json(run.summary_file, summary)
    return summary


def _describe(run: RunDir, summary: dict[str, Any]) -> str:
    lines = [f"run directory: {run.path}"]
    lik = summary.get("likelihood", {})
    for name, value in lik.items():
        if name.endswith("_nats"):
            lines.append(f"  test {name.replace('_nats', '')}: {value:.2f} nats/image")
    lines.append(f"  trained {summary['epochs_trained']} epochs in {summary['train_time_s']:.1f} s (kept epoch {summary['best_epoch']})")
    for f in ("samples.png", "reconstructions.png", "metrics.jsonl", "summary.json"):
        if (run.path / f).exists():
            lines.append(f"  {f}: {run.path / f}")
    return "\n".join(lines)
