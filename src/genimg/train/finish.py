"""The end of a run: pictures and scores from the kept weights, summary.json, and what to print."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genimg.config.run_config import RunConfig, parse_budget
from genimg.data.dataset import ImageDataset
from genimg.evaluate.likelihood import test_log_likelihood
from genimg.images import save_grid, save_pairs
from genimg.models.base import GenerativeModel
from genimg.models.precision import autocast
from genimg.rng import fixed_seed
from genimg.runs.directory import RunDir
from genimg.runs.status import mark
from genimg.train.batches import evaluate_loss
from genimg.train.distributed import DistInfo
from genimg.train.loader import loader_workers
from genimg.train.state import TrainState

SAMPLE_GRID_SEED = 1234  # the fixed noise behind every sample grid, so grids are comparable across epochs


def save_sample_grid(
    model: GenerativeModel, path: Path, seed: int, precision: str, progress: bool = False, **sample_options: Any
) -> torch.Tensor:
    """64 samples from the grid's fixed noise, saved as an 8x8 grid; returns them."""
    model.eval()
    with fixed_seed(seed + SAMPLE_GRID_SEED), torch.inference_mode(), autocast(precision, model.device):
        images = model.sample(64, progress=progress, **sample_options)
    save_grid(images, path, nrow=8)
    return images


def finish(
    run: RunDir,
    model: GenerativeModel,
    config: RunConfig,
    splits: dict[str, ImageDataset],
    state: TrainState,
    kept: str,
    precision: str,
    progress: bool,
) -> dict[str, Any]:
    """Final pictures and scores from the kept weights; summary.json marked finished."""
    tc = config.train
    test = splits["test"]
    # The final grid with the sampler the run was monitored with (for diffusion a 50-step DDIM, not
    # 1000 ancestral steps: minutes of silence after training on a CPU), shown as it draws.
    save_sample_grid(
        model, run.path / "samples.png", tc.seed, precision, progress=progress, **model.monitoring_sample_options()
    )
    summary: dict[str, Any] = {
        "family": config.family,
        "dataset": config.data.dataset,
        "preset": config.preset,
        "precision": precision,
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
    if tc.budget is not None:
        budget = parse_budget(tc.budget)
        spent = state.loop_wall_s if budget.clock == "wall" else state.loop_cpu_s
        summary.update(
            budget=tc.budget,
            budget_seconds=budget.seconds,
            budget_clock=budget.clock,
            budget_spent_s=round(spent, 2),
            stopped_by_budget=state.stopped_by_budget,
            # Nothing in training reads the budget: the same epochs give the same weights.
            replay=f"epochs={state.epoch} budget=null",
        )
    if model.has("reconstruct"):
        with torch.inference_mode():
            # Already on the device, unless the split stays on disk (read here on the CPU).
            x, y = test.images[:32].to(model.device), test.labels[:32].to(model.device)
            recon = model.reconstruct(x, y if model.conditional else None)
        save_pairs(x, recon, run.path / "reconstructions.png")
    with fixed_seed(tc.seed + 99):
        test_loss = evaluate_loss(model, test, tc.batch_size, DistInfo(), loader_workers(config.data))
    if test_loss:
        summary["test"] = test_loss
    if model.has("likelihood") and tc.likelihood_at_end:
        with fixed_seed(tc.seed + 101):
            summary["likelihood"] = test_log_likelihood(model, test, k=tc.likelihood_k, progress=progress)
    summary["finished"] = True
    mark(run, "finished", **summary)
    return run.summary()


def describe(run: RunDir, summary: dict[str, Any]) -> str:
    lines = [f"run directory: {run.path}"]
    for name, value in summary.get("likelihood", {}).items():
        if name.endswith("_nats"):
            bpd = summary["likelihood"].get(name.replace("_nats", "_bpd"))
            lines.append(
                f"  test {name[4:-5]} bound: {value:.2f} nats/image" + (f", {bpd:.4f} bits/dim" if bpd else "")
            )
    budget = f", budget {summary['budget']}" if summary.get("budget") else ""
    lines.append(
        f"  trained {summary['epochs_trained']} epochs in {summary['train_time_s']:.1f} s "
        f"({summary['train_cpu_s']:.1f} CPU-s{budget}; kept epoch {summary['best_epoch']})"
    )
    for f in ("samples.png", "reconstructions.png", "metrics.jsonl", "summary.json"):
        if (run.path / f).exists():
            lines.append(f"  {f}: {run.path / f}")
    return "\n".join(lines)
