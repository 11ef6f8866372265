"""A recovery from the damage to the files it writes, what ``genimg recover`` calls.

One path, read top to bottom: the method table, the scores, ``recover`` itself, the
figure and the run-directory entry points. The pieces it composes live beside it: the damage a
task does (damage.py), the operators A (operators.py, scanner_operators.py), the methods' knobs
(options.py) and the solvers (baselines.py, latent_optimisation.py, diffusion_solvers.py).

- Methods: every ``Method`` in ``METHODS`` carries what it solves, what it needs of a model and
  its solver, ``solve(model, degradation, y, options, generator)`` -> images in [0, 1], so running
  a method is a lookup, never a branch on its name. Diffusion methods draw posterior *samples*;
  ``options.posterior_samples = K`` averages K of them, an estimate of the posterior mean (the
  minimum-MSE answer; one sample has about twice its error on the pixels the measurement leaves
  open). Each method draws from its own seed (``method_seed``).
- Scores: MSE, RMSE, PSNR and SSIM as mean +- std over images, of the degraded image against the
  original ("N vs O") and of each method's answer against it ("R vs O"); ``Recovery`` holds them
  all, as JSON, CSV and aligned text.
- ``recover`` degrades images, runs the methods and scores both, in memory; ``run_recovery`` does
  it on the first n images of a split of a run's dataset and writes RUN/recover/<task>/figure.png
  (one row per image: O | N | R per method, drawn by ``recovery_figure``), metrics.json and
  metrics.csv; ``run_edit`` applies SDEdit to a user's image (``--task edit``). Files are written
  atomically, and everything is deterministic given the seed.
"""

from __future__ import annotations

import csv
import io
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from genimg.config.run_config import DataConfig
from genimg.data.dataset import SPLITS
from genimg.data.registry import load_split
from genimg.errors import UserError
from genimg.evaluate.metrics.recovery_metrics import RecoveryMetrics
from genimg.images import save_png, to_pil
from genimg.io import write_json, write_text
from genimg.models.base import GenerativeModel
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.recover.baselines import (
    baseline_bicubic,
    baseline_biharmonic,
    baseline_identity,
    baseline_nlm,
    baseline_richardson_lucy,
    baseline_sart,
    baseline_tv,
    baseline_tv_cs,
)
from genimg.tasks.recover.damage import (
    EDIT_TASK,
    IMAGE_TASKS,
    SCANNER_TASKS,
    TASKS,
    TaskSpec,
    make_degradation,
    open_image_file,
)
from genimg.tasks.recover.diffusion_solvers import (
    DEFAULT_STRENGTH,
    sdedit,
    solve_dc,
    solve_dps,
    solve_repaint,
    solve_sdedit,
)
from genimg.tasks.recover.latent_optimisation import latent_optimisation_refusal, solve_latent
from genimg.tasks.recover.operators import Degradation
from genimg.tasks.recover.options import SolverOptions

# ---------------------------------------------------------------------------- methods

# (model or None, degradation, measurements y, options, generator) -> recovered images in [0, 1]
Solver = Callable[
    [GenerativeModel | None, Degradation, torch.Tensor, SolverOptions, torch.Generator | None], torch.Tensor
]
Baseline = Callable[[Degradation, torch.Tensor, SolverOptions], torch.Tensor]
# A generative method's solver: a Solver that needs the model (``method_refusal`` refuses None first).
GenerativeSolver = Callable[
    [GenerativeModel, Degradation, torch.Tensor, SolverOptions, torch.Generator | None], torch.Tensor
]


def _classical(baseline: Baseline) -> Solver:
    """A baseline as a solver: it needs no model and draws nothing."""
    return lambda model, degradation, y, options, generator: baseline(degradation, y, options)


def _with_model(solve: GenerativeSolver) -> Solver:
    """A generative solver as a Solver, which is called with a model (never None) for it."""

    def solve_with_model(
        model: GenerativeModel | None,
        degradation: Degradation,
        y: torch.Tensor,
        options: SolverOptions,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        assert model is not None, "a generative method needs a model"
        return solve(model, degradation, y, options, generator)

    return solve_with_model


def _posterior_mean(draw: GenerativeSolver) -> Solver:
    """A diffusion solver that averages ``options.posterior_samples`` draws."""

    def solve(
        model: GenerativeModel | None,
        degradation: Degradation,
        y: torch.Tensor,
        options: SolverOptions,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        assert model is not None, "a generative method needs a model"
        return torch.stack(
            [draw(model, degradation, y, options, generator) for _ in range(options.posterior_samples)]
        ).mean(0)

    return solve


def _denoiser_refusal(name: str) -> Callable[[GenerativeModel], str | None]:
    return lambda model: model.refusal("denoiser", name)


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # "classical" or "generative"
    tasks: tuple[str, ...]  # tasks it solves
    description: str
    solve: Solver
    # For a generative method: model -> None if the model can run it, else why not (by capability).
    refusal: Callable[[GenerativeModel], str | None] | None = None


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("identity", "classical", IMAGE_TASKS, "the degraded image itself", _classical(baseline_identity)),
        Method("zero-filled", "classical", ("mri",), "zero-filled inverse FFT", _classical(baseline_identity)),
        Method("fbp", "classical", ("ct",), "filtered back-projection, ramp filter", _classical(baseline_identity)),
        Method("sart", "classical", ("ct",), "SART (scikit-image's iradon_sart)", _classical(baseline_sart)),
        Method(
            "tv-cs",
            "classical",
            SCANNER_TASKS,
            "total-variation compressed sensing (Chambolle-Pock)",
            _classical(baseline_tv_cs),
        ),
        Method("bicubic", "classical", ("superres",), "bicubic upsampling", _classical(baseline_bicubic)),
        Method("tv", "classical", ("denoise",), "total-variation denoising (Chambolle)", _classical(baseline_tv)),
        Method("nlm", "classical", ("denoise",), "non-local means with the known sigma", _classical(baseline_nlm)),
        Method("biharmonic", "classical", ("inpaint",), "biharmonic inpainting", _classical(baseline_biharmonic)),
        Method(
            "richardson-lucy",
            "classical",
            ("deblur",),
            "Richardson-Lucy deconvolution with the known kernel",
            _classical(baseline_richardson_lucy),
        ),
        Method(
            "latent",
            "generative",
            TASKS,
            "latent optimisation (Bora et al. 2017)",
            _with_model(solve_latent),
            latent_optimisation_refusal,
        ),
        Method(
            "dps",
            "generative",
            TASKS,
            "diffusion posterior sampling (Chung et al. 2022)",
            _posterior_mean(solve_dps),
            _denoiser_refusal("dps"),
        ),
        Method(
            "repaint",
            "generative",
            ("inpaint",),
            "RePaint (Lugmayr et al. 2022)",
            _posterior_mean(solve_repaint),
            _denoiser_refusal("repaint"),
        ),
        Method(
            "dc",
            "generative",
            SCANNER_TASKS,
            "data-consistent diffusion sampling (Song et al. 2022)",
            _posterior_mean(solve_dc),
            _denoiser_refusal("dc"),
        ),
        Method(
            "sdedit",
            "generative",
            TASKS,
            "SDEdit (Meng et al. 2022)",
            _posterior_mean(solve_sdedit),
            _denoiser_refusal("sdedit"),
        ),
    ]
}


def method_refusal(method: Method, model: GenerativeModel | None) -> str | None:
    """None if ``model`` (None: no model) can run ``method``, else why not."""
    if method.refusal is None:
        return None
    if model is None:
        return f"{method.name} needs a trained model, and none was given"
    return method.refusal(model)


def available_methods(task: str, model: GenerativeModel | None) -> list[str]:
    return [m.name for m in METHODS.values() if task in m.tasks and method_refusal(m, model) is None]


def resolve_methods(names: list[str] | None, task: str, model: GenerativeModel | None) -> list[str]:
    """The methods to run: all that serve this task and model, or the named ones, checked."""
    valid = available_methods(task, model)
    if not names or names == ["all"]:
        return valid
    for name in names:
        if name not in METHODS:
            raise UserError(f"unknown method '{name}'; choose from {', '.join(valid)} (for --task {task})")
        method = METHODS[name]
        reason = method_refusal(method, model)
        if reason is not None:
            raise UserError(f"{reason}; for --task {task} choose from {', '.join(valid)}")
        if task not in method.tasks:
            raise UserError(f"method '{name}' does not solve --task {task}; choose from {', '.join(valid)}")
    return list(dict.fromkeys(names))


def method_seed(seed: int, name: str) -> int:
    """A seed per method, so adding or removing a method leaves the others' draws unchanged."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)


# ---------------------------------------------------------------------------- scores

METRIC_NAMES = ("mse", "rmse", "psnr", "ssim")


def score(recovered: torch.Tensor, originals: torch.Tensor) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (over images, ddof = 0) of MSE, RMSE, PSNR and SSIM.
    An exact image's infinite PSNR is left out of both, and counted in ``num_infinite``."""
    metrics = RecoveryMetrics()
    metrics.update(recovered.float().cpu(), originals.float().cpu())
    table = {}
    for name, scores in metrics.compute().items():
        finite = scores.per_image[torch.isfinite(scores.per_image)]
        std = float(finite.std(unbiased=False)) if finite.numel() else math.nan
        table[name] = {"mean": scores.mean, "std": std, "num_infinite": scores.num_infinite}
    return table


@dataclass
class MethodResult:
    name: str
    kind: str
    images: torch.Tensor
    recovered: dict[str, dict[str, float]]  # R vs O
    cpu_s: float
    wall_s: float


@dataclass
class Recovery:
    task: TaskSpec
    originals: torch.Tensor
    observed: torch.Tensor  # N: the measurement as an image in [0, 1]
    mask: torch.Tensor | None
    degraded: dict[str, dict[str, float]]  # N vs O
    methods: dict[str, MethodResult] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def best(self, kind: str, metric: str = "psnr") -> tuple[str, float] | None:
        scored = [(r.recovered[metric]["mean"], name) for name, r in self.methods.items() if r.kind == kind]
        if not scored:
            return None
        value, name = max(scored)
        return name, value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.info,
            "task": self.task.task,
            "degradation": self.task.to_dict(),
            "n": int(self.originals.shape[0]),
            "metrics": list(METRIC_NAMES),
            "degraded": self.degraded,
            "methods": {
                name: {
                    "kind": r.kind,
                    "description": METHODS[r.name].description,
                    "degraded": self.degraded,
                    "recovered": r.recovered,
                    "cpu_s": round(r.cpu_s, 3),
                    "wall_s": round(r.wall_s, 3),
                }
                for name, r in self.methods.items()
            },
        }
        generative, classical = self.best("generative"), self.best("classical")
        out["best"] = {
            "generative": {"method": generative[0], "psnr": generative[1]} if generative else None,
            "classical": {"method": classical[0], "psnr": classical[1]} if classical else None,
            "psnr_gain_db": generative[1] - classical[1] if generative and classical else None,
        }
        return out

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["method", "kind", "compare"] + [f"{m}_{s}" for m in METRIC_NAMES for s in ("mean", "std")] + ["cpu_s"]
        writer.writerow(header)
        for name, r in self.methods.items():
            for compare, table in (("N vs O", self.degraded), ("R vs O", r.recovered)):
                cells = [f"{table[m][s]:.6g}" for m in METRIC_NAMES for s in ("mean", "std")]
                writer.writerow([name, r.kind, compare, *cells, f"{r.cpu_s:.3f}"])
        return buffer.getvalue()

    def format_table(self) -> str:
        """The table as aligned text, for the terminal."""
        titles = " ".join(f"{m.upper():>17s}" for m in METRIC_NAMES)
        lines = [f"{'method':16s} {'kind':10s} {'':6s} {titles} {'cpu s':>8s}"]

        def row(label: str, kind: str, compare: str, table: dict, cpu: str) -> str:
            cells = " ".join(
                f"{table[m]['mean']:8.4f} ± {table[m]['std']:6.4f}"
                if m != "psnr"
                else f"{table[m]['mean']:8.2f} ± {table[m]['std']:6.2f}"
                for m in METRIC_NAMES
            )
            return f"{label:16s} {kind:10s} {compare:6s} {cells} {cpu:>8s}"

        lines.append(row("(degraded)", "", "N vs O", self.degraded, ""))
        for name, r in self.methods.items():
            lines.append(row(name, r.kind, "R vs O", r.recovered, f"{r.cpu_s:.1f}"))
        return "\n".join(lines)


# ---------------------------------------------------------------------------- recovery


def recover(
    model: GenerativeModel | None,
    originals: torch.Tensor,
    spec: TaskSpec,
    methods: list[str] | None = None,
    options: SolverOptions | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Recovery:
    """Degrade ``originals`` as ``spec`` says, recover them with each method, score both.

    ``model`` may be None when only classical methods are asked for. Deterministic given
    ``seed``: the damage is drawn from it, and each method gets its own stream derived from it.
    """
    spec = spec.resolved()
    options = options or SolverOptions()
    names = resolve_methods(methods, spec.task, model)
    originals = originals.detach().float().cpu()
    damage = torch.Generator().manual_seed(seed)
    channels, height, width = originals.shape[1:]
    degradation = make_degradation(spec, (channels, height, width), originals.shape[0], damage)
    y = degradation.measure(originals, damage)
    observed = degradation.observed_image(y)
    result = Recovery(spec, originals, observed, degradation.mask, score(observed, originals))
    y_model = y.to(model.device) if model is not None else y  # generative methods measure on the model's device
    for name in names:
        method = METHODS[name]
        if progress:
            progress(name)
        generator = torch.Generator().manual_seed(method_seed(seed, name))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        measured = y_model if method.kind == "generative" else y
        images = method.solve(model, degradation, measured, options, generator).cpu()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        result.methods[name] = MethodResult(name, method.kind, images, score(images, originals), cpu, wall)
    return result


# ---------------------------------------------------------------------------- figure

MISSING_COLOUR = (0.85, 0.25, 0.25)  # how removed pixels are drawn in the "degraded" column
HEADER_HEIGHT = 16  # pixels above the images, for the column labels


def _as_rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def recovery_figure(
    columns: dict[str, torch.Tensor],
    mask: torch.Tensor | None = None,
    mask_column: str | None = None,
    max_height: int = 4096,
) -> Image.Image:
    """One row per image, one labelled column per entry of ``columns`` (each NCHW in [0, 1]),
    upscaled with nearest-neighbour. Pixels a mask removed are drawn in red in ``mask_column``
    (they are zero in the data, which on digits would look like background)."""
    n, _, height, width = next(iter(columns.values())).shape
    scale = max(1, min(max(1, 48 // width), (max_height - HEADER_HEIGHT) // max(1, n * (height + 2))))
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = {name: int(measure.textlength(name, font=font)) + 6 for name in columns}
    cell_w, cell_h = width * scale, height * scale
    col_w = {name: max(cell_w + 4, label_width[name]) for name in columns}
    figure = Image.new("RGB", (sum(col_w.values()), HEADER_HEIGHT + n * (cell_h + 2) + 2), "white")
    draw = ImageDraw.Draw(figure)
    left = 0
    for name, images in columns.items():
        draw.text((left + (col_w[name] - label_width[name]) // 2 + 3, 2), name, fill="black", font=font)
        rgb = _as_rgb(images.detach().float().cpu().clamp(0, 1))
        if mask is not None and name == mask_column:
            missing = (mask.expand(n, 1, height, width) < 0.5).expand(-1, 3, -1, -1)
            colour = torch.tensor(MISSING_COLOUR).view(1, 3, 1, 1).expand_as(rgb)
            rgb = torch.where(missing, colour, rgb)
        cell_left = left + (col_w[name] - cell_w) // 2
        for i in range(n):
            figure.paste(to_pil(rgb[i], scale), (cell_left, HEADER_HEIGHT + i * (cell_h + 2) + 2))
        left += col_w[name]
    return figure


# ---------------------------------------------------------------------------- run directories


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
    make_degradation(spec, run.spec().image_shape, 1)  # likewise for tasks the data cannot serve
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
    image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.Resampling.BOX)
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
    image = load_input_image(input_path, run.spec().image_shape)
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
