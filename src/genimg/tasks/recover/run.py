"""Recovery on a run directory, what ``genimg recover`` calls: ``run_recovery`` degrades and recovers
images of the run's dataset, ``run_edit`` applies SDEdit to a user's image. Both write
RUN/recover/<task>/figure.png and metrics.json (and metrics.csv for a recovery), atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genimg.config.run_config import DataConfig
from genimg.data.dataset import SPLITS
from genimg.data.splits import load_split
from genimg.errors import UserError
from genimg.images import save_png
from genimg.io import write_json, write_text
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.recover.figure import recovery_figure
from genimg.tasks.recover.image_file import open_image_file
from genimg.tasks.recover.methods import method_seed, resolve_methods
from genimg.tasks.recover.options import SolverOptions
from genimg.tasks.recover.recovery import recover
from genimg.tasks.recover.result import Recovery
from genimg.tasks.recover.sdedit import DEFAULT_STRENGTH, sdedit
from genimg.tasks.recover.task import EDIT_TASK, TASKS, TaskSpec, make_degradation


def _load_images(data: DataConfig, split: str, n: int) -> torch.Tensor:
    """The first ``n`` images of a split, with the run's data options."""
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    images = load_split(data, split).images
    if n > len(images):
        raise UserError(
            f"--n {n} but the {split} split of {data.dataset} has {len(images)} images; pass --n {len(images)} or fewer"
        )
    return images[:n]


def run_recovery(
    run_path: str | Path,
    spec: TaskSpec,
    methods: list[str] | None = None,
    *,
    n: int = 64,
    seed: int = 0,
    split: str = "test",
    options: SolverOptions | None = None,
    out: str | Path | None = None,
    ema: bool = True,
    progress: Callable[[str], None] | None = None,
) -> tuple[Recovery, Path]:
    """Recover the first ``n`` images of a split of the run's dataset; write figure.png,
    metrics.json and metrics.csv into ``out`` (default RUN/recover/<task>)."""
    run = RunDir.open(run_path)
    spec = spec.resolved()
    if split not in SPLITS:  # refused before the model or any image is loaded
        raise UserError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    config = run.config()
    model = load_model(run.path, ema=ema)
    names = resolve_methods(methods, spec.task, model)  # fail before loading the data
    make_degradation(spec, tuple(run.spec().image_shape), 1)  # likewise for tasks the data cannot serve
    originals = _load_images(config.data, split, n)
    result = recover(model, originals, spec, names, options, seed, progress)
    result.info.update(
        {
            "run": str(run.path),
            "family": config.family,
            "dataset": config.data.dataset,
            "split": split,
            "seed": seed,
            "options": asdict(options or SolverOptions()),
        }
    )
    out_dir = Path(out) if out else run.path / "recover" / spec.task
    columns = {
        "original": result.originals,
        "degraded": result.observed,
        **{name: r.images for name, r in result.methods.items()},
    }
    save_png(recovery_figure(columns, result.mask, "degraded"), out_dir / "figure.png")
    write_json(out_dir / "metrics.json", result.to_dict())
    write_text(out_dir / "metrics.csv", result.to_csv())
    return result, out_dir


def load_input_image(path: str | Path, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """A user's PNG (e.g. a stroke painting) as (1, C, H, W) in [0, 1], resized (area-averaged)
    to the model's size and converted to its channels."""
    image = open_image_file(path, "input image", "pass a PNG")
    channels, height, width = image_shape
    image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BOX)
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)[None, None] if channels == 1 else torch.from_numpy(array).permute(2, 0, 1)[None]
    return tensor.contiguous()


def run_edit(
    run_path: str | Path,
    input_path: str | Path,
    *,
    strength: float = DEFAULT_STRENGTH,
    n: int = 8,
    seed: int = 0,
    steps: int | None = None,
    out: str | Path | None = None,
    ema: bool = True,
) -> tuple[torch.Tensor, Path]:
    """SDEdit on a user's image: ``n`` edits of it, written beside it as RUN/recover/edit/figure.png."""
    run = RunDir.open(run_path)
    model = load_model(run.path, ema=ema)
    reason = model.refusal("denoiser", "--task edit (sdedit)")
    if reason is not None:
        raise UserError(f"{reason}; with this model choose one of {', '.join(TASKS)}")
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    options = SolverOptions(strength=strength, steps=steps)  # validates strength and steps
    steps = options.steps or options.sdedit_steps
    image = load_input_image(input_path, tuple(run.spec().image_shape))
    generator = torch.Generator().manual_seed(method_seed(seed, "sdedit"))
    edits = sdedit(model, image.repeat(n, 1, 1, 1), strength=options.strength, steps=steps, generator=generator).cpu()
    out_dir = Path(out) if out else run.path / "recover" / EDIT_TASK
    columns = {"input": image, **{f"edit {i + 1}": edits[i : i + 1] for i in range(n)}}
    save_png(recovery_figure(columns), out_dir / "figure.png")
    write_json(
        out_dir / "metrics.json",
        {
            "task": EDIT_TASK,
            "run": str(run.path),
            "input": str(input_path),
            "strength": strength,
            "n": n,
            "seed": seed,
            "steps": steps,
        },
    )
    return edits, out_dir
