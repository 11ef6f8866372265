"""Training and sampling speed of every family's preset at 8x8 and 28x28, in fp32 and bf16, as a
share of this machine's GEMM peaks measured in the same run (issue 15).

    python benchmarks/bench_speed.py [--threads 2] [--repeats 3] [--seconds 1.0]
                                     [--families vae,dcgan,diffusion] [--sizes 8,28] [--json out.json]
    python benchmarks/bench_speed.py --profile [--sizes 8] [--families ...]   # where a step's time goes

For each family and dataset (``digits``, 8x8; ``mnist-sample``, 28x28), the model is the one
``genimg train FAMILY dataset=...`` builds (``genimg.config.config_for`` with the preset), set up
by the trainer itself: ``genimg.train.trainer.build_session`` (the model, precision, channels-last,
optimisers in a ``Stepper``, EMA, divergence guard), and one training step is the trainer's own
``session.step(batch)`` on an index slice of the in-memory training split, plus the ``float(v)``
of every logged value. Columns:

- MFLOP/img: ``torch.utils.flop_counter.FlopCounterMode`` over one whole ``training_step``
  (forward and backward; both of a GAN's updates), divided by the batch size;
- train img/CPU-s: training images per second of process CPU time (``time.process_time``, every
  thread counted: steadier than wall time on a shared machine), fp32 and bf16, median of
  ``--repeats`` interleaved repeats of about ``--seconds`` CPU-s each, after two warm-up steps;
- % GEMM peak, % conv ref: that rate times the FLOPs per image, as a share of the peak measured
  the same way in the same precision, once per repeat (medians): a 2048x2048 matmul (the GEMM
  peak), and a 3x3 64-channel convolution at 28x28, batch 64, channels-last (what oneDNN reaches
  on a convolution layer; in fp32 it is ~2.4x the matmul's rate on this CPU, whose fp32 matmul
  runs through MKL: shares of the GEMM peak above 100% are real);
- sample img/CPU-s: ``model.sample`` in eval mode under ``inference_mode`` and the same autocast
  the trainer's sample grids use: DDIM with 50 steps for diffusion, one decode for VAE and DCGAN.

A second table gives the same rates in wall-clock time (inflated when the machine is loaded:
see the load average printed with it).

``--profile`` instead times one training step's parts without the profiler (the step as the
trainer runs it; without the EMA update; without the ``float(v)`` host reads; at batch 2, for
the fixed cost per step), then runs ``torch.profiler`` over a few steps and splits the step into
the batch slice, forward, backward, gradient clipping, optimiser (zero_grad and step), EMA and
logging, with the share of each region spent outside any ATen operator (Python and the
dispatcher), and the operators' time by kind (GEMM/convolution, normalisation, elementwise,
casts and copies, optimiser kernels). Its region times come from the profiler's wall clock,
given as shares and scaled to the unprofiled step's CPU-ms.

Threads: with more intra-op threads than idle cores (a shared machine), oneDNN's bf16
weight-gradient convolution kernel (``jit_bf16``, reported by ``ONEDNN_VERBOSE=1``) waits at its
barriers for descheduled threads and a step runs 3-100x slower than in fp32; fp32 kernels do not
suffer. Compare ``--threads 1`` (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch
from torch.utils.flop_counter import FlopCounterMode

from genimg.config import config_for
from genimg.data.dataset import ImageDataset
from genimg.data.spec import DataSpec
from genimg.models.base import Batch, GenerativeModel
from genimg.models.precision import autocast, cpu_has_native_bf16
from genimg.train.batches import load_splits
from genimg.train.ema import EMA
from genimg.train.trainer import TrainingSession, build_session

DATASETS = {8: "digits", 28: "mnist-sample"}
PRECISIONS = ("fp32", "bf16")
GEMM_SIZE = 2048


@dataclass
class Setup:
    """One family's preset on one dataset in one precision, as the trainer sets it up."""

    family: str
    size: int
    precision: str
    session: TrainingSession
    data: ImageDataset
    batch_size: int
    channels_last: bool
    order: torch.Generator

    @property
    def model(self) -> GenerativeModel:
        return self.session.model

    def batches(self, batch_size: int | None = None):
        """Full shuffled batches of the training split, epoch after epoch."""
        b = batch_size or self.batch_size
        while True:
            order = torch.randperm(len(self.data), generator=self.order)
            for start in range(0, len(order) - b + 1, b):
                yield order[start : start + b]


def build(family: str, size: int, precision: str, splits: dict[int, ImageDataset]) -> Setup:
    config = config_for(family, [f"dataset={DATASETS[size]}", f"precision={precision}", "seed=0"])
    device = torch.device("cpu")
    if size not in splits:
        splits[size] = load_splits(config, device)["train"]
    data = splits[size]
    spec = DataSpec.of(data, dequantized=config.data.dequantize == "uniform")
    session = build_session(config, spec, device)
    if session.channels_last:
        data = data.channels_last()
    return Setup(
        family,
        size,
        session.precision,
        session,
        data,
        config.train.batch_size,
        session.channels_last,
        torch.Generator().manual_seed(0),
    )


def trainer_step(s: Setup, local: torch.Tensor, *, ema: bool = True, log: bool = True, label=None) -> None:
    """The trainer's own step (``session.step``) on one batch, and its logged values read as the
    epoch's sums read them; ``ema=False`` leaves the EMA update out (for the ablations)."""
    region = label or (lambda _name: contextlib.nullcontext())
    with region("batch"):
        batch = Batch(s.data.images[local], s.data.labels[local])
    kept_ema = s.session.ema
    s.session.ema = kept_ema if ema else None
    try:
        out = s.session.step(batch)
    finally:
        s.session.ema = kept_ema
    if log and out is not None:
        with region("log"):
            sums = {k: float(v) * len(local) for k, v in out.items()}
            if "loss" in out:
                sums["_bar"] = float(out["loss"])


def flops_per_image(family: str, size: int, splits) -> tuple[float, int]:
    s = build(family, size, "fp32", splits)
    local = next(s.batches())
    with FlopCounterMode(display=False) as counter:
        trainer_step(s, local, ema=False, log=False)
    return counter.get_total_flops() / len(local), s.model.num_parameters()


def sample_options(family: str) -> dict:
    return {"sampler": "ddim", "steps": 50} if family == "diffusion" else {}


def sample_count(family: str, size: int) -> int:
    if family == "diffusion":
        return 100 if size == 8 else 24
    return 1000


def sample(s: Setup, n: int) -> None:
    was_training = s.model.training
    s.model.eval()
    with torch.inference_mode(), autocast(s.precision, s.model.device):
        s.model.sample(n, progress=False, **sample_options(s.family))
    s.model.train(was_training)


def sampling_flops_per_image(s: Setup) -> float:
    with FlopCounterMode(display=False) as counter:
        sample(s, 4)
    return counter.get_total_flops() / 4


def timed(fn) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu0, time.perf_counter() - wall0


def steps_for(s: Setup, seconds: float) -> int:
    """Warm up (two steps), then the number of steps that takes about ``seconds`` CPU-s."""
    batches = s.batches()
    for _ in range(2):
        trainer_step(s, next(batches))
    cpu, _ = timed(lambda: [trainer_step(s, next(batches)) for _ in range(2)])
    return max(3, math.ceil(seconds / max(cpu / 2, 1e-6)))


def train_rate(s: Setup, steps: int) -> tuple[float, float]:
    """Training images per CPU-second and per wall-second over ``steps`` steps."""
    batches = s.batches()
    cpu, wall = timed(lambda: [trainer_step(s, next(batches)) for _ in range(steps)])
    return steps * s.batch_size / cpu, steps * s.batch_size / wall


def sample_rate(s: Setup, n: int) -> tuple[float, float]:
    cpu, wall = timed(lambda: sample(s, n))
    return n / cpu, n / wall


def peak_rates(dtype: torch.dtype, seconds: float = 0.3) -> dict[str, tuple[float, float]]:
    """FLOP per CPU-second and per wall-second, in ``dtype``, of the GEMM peak (a GEMM_SIZE x GEMM_SIZE
    matmul) and of a convolution reference (3x3, 64 -> 64 channels, 28x28, batch 64, NHWC: what oneDNN
    reaches on a convolution layer of the 28x28 nets)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, generator=g).to(dtype)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE, generator=g).to(dtype)
    x = torch.randn(64, 64, 28, 28, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
    cases = {
        "gemm": (lambda: torch.mm(a, b), 2 * GEMM_SIZE**3),
        "conv": (lambda: torch.nn.functional.conv2d(x, w, padding=1), 2 * 64 * 64 * 9 * 28 * 28 * 64),
    }
    out = {}
    for name, (fn, flops) in cases.items():
        fn()
        reps, cpu, wall = 0, 0.0, 0.0
        while cpu < seconds or reps < 3:
            c, w_ = timed(fn)
            reps, cpu, wall = reps + 1, cpu + c, wall + w_
        out[name] = (flops * reps / cpu, flops * reps / wall)
    return out


def benchmark(args) -> dict:
    splits: dict[int, ImageDataset] = {}
    peaks: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
    rows = []
    for size in args.sizes:
        for family in args.families:
            flops, params = flops_per_image(family, size, splits)
            setups = {p: build(family, size, p, splits) for p in PRECISIONS}
            steps = {p: steps_for(s, args.seconds) for p, s in setups.items()}
            n = sample_count(family, size)
            sample_flops = sampling_flops_per_image(setups["fp32"])
            for s in setups.values():
                sample(s, min(n, 8))  # warm-up
            train: dict[str, list] = {p: [] for p in PRECISIONS}
            samples: dict[str, list] = {p: [] for p in PRECISIONS}
            for r in range(args.repeats):  # interleaved, so a busy spell hits every variant alike
                order = PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]
                for p in order:
                    peaks[p].append(peak_rates(torch.float32 if p == "fp32" else torch.bfloat16))
                    train[p].append(train_rate(setups[p], steps[p]))
                    samples[p].append(sample_rate(setups[p], n))
            row = {
                "family": family,
                "size": size,
                "batch": setups["fp32"].batch_size,
                "params": params,
                "mflop_per_image": flops / 1e6,
                "sample_mflop_per_image": sample_flops / 1e6,
                "channels_last": setups["fp32"].channels_last,
                "sample_n": n,
                "ema": setups["fp32"].ema is not None,
            }
            for p in PRECISIONS:
                for i, clock in enumerate(("cpu", "wall")):
                    row[f"train_{p}_{clock}"] = statistics.median(t[i] for t in train[p])
                    row[f"sample_{p}_{clock}"] = statistics.median(t[i] for t in samples[p])
            rows.append(row)
            print(f"  measured {family} {size}x{size}", flush=True)
    peak = {
        f"{kind}_{p}_{clock}": statistics.median(t[kind][i] for t in peaks[p])
        for kind in ("gemm", "conv")
        for p in PRECISIONS
        for i, clock in enumerate(("cpu", "wall"))
    }
    return {"rows": rows, "peak": peak}


def share(row: dict, mode: str, precision: str, peak: float) -> str:
    """The share of ``peak`` (FLOP/s) that the row's training rate in ``precision`` reaches."""
    return f"{100 * row[f'train_{precision}_{mode}'] * row['mflop_per_image'] * 1e6 / peak:.0f}%"


def print_tables(result: dict) -> None:
    peak = result["peak"]
    g = {k: v / 1e9 for k, v in peak.items()}
    print(
        f"\npeaks, median of the repeats, GFLOP per CPU-s (per wall-s): {GEMM_SIZE}x{GEMM_SIZE} matmul "
        f"fp32 {g['gemm_fp32_cpu']:.0f} ({g['gemm_fp32_wall']:.0f}), bf16 {g['gemm_bf16_cpu']:.0f} "
        f"({g['gemm_bf16_wall']:.0f}); convolution reference (3x3, 64 ch, 28x28, batch 64, NHWC) "
        f"fp32 {g['conv_fp32_cpu']:.0f} ({g['conv_fp32_wall']:.0f}), bf16 {g['conv_bf16_cpu']:.0f} "
        f"({g['conv_bf16_wall']:.0f})\n"
    )
    for mode, unit in (("cpu", "img/CPU-s"), ("wall", "img/s")):
        if mode == "wall":
            print(f"\nwall clock (load average {os.getloadavg()[0]:.2f} at the end)\n")
        print(
            f"| model | batch | params | MFLOP/img/step | train {unit} fp32 | bf16 | bf16/fp32 "
            "| fp32: % GEMM peak | % conv ref | bf16: % GEMM peak | % conv ref "
            f"| sample {unit} fp32 | bf16 | sampling MFLOP/img |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in result["rows"]:
            name = f"{r['family']} {r['size']}x{r['size']}" + (", NHWC" if r["channels_last"] else "")
            f32, b16 = r[f"train_fp32_{mode}"], r[f"train_bf16_{mode}"]
            shares = " | ".join(
                share(r, mode, p, peak[f"{kind}_{p}_{mode}"]) for p in PRECISIONS for kind in ("gemm", "conv")
            )
            print(
                f"| {name} | {r['batch']} | {r['params']:,} | {r['mflop_per_image']:.1f} | {f32:.0f} | {b16:.0f} "
                f"| {b16 / f32:.2f}x | {shares} | {r[f'sample_fp32_{mode}']:.1f} | {r[f'sample_bf16_{mode}']:.1f} "
                f"| {r['sample_mflop_per_image']:.1f} |"
            )


# --- --profile: where one training step's time goes ------------------------------------------------
OP_KINDS = (  # (kind, substrings of the ATen operator's name), first match wins
    ("GEMM / convolution / attention", ("conv", "mm", "matmul", "linear", "scaled_dot_product", "attention")),
    ("normalisation", ("group_norm", "batch_norm", "layer_norm")),
    ("optimiser / EMA / clipping", ("adam", "_foreach", "lerp", "vector_norm", "clamp_")),
    ("casts and copies", ("_to_copy", "copy_", "aten::to", "clone", "contiguous")),
    ("indexing, padding, concatenation", ("index", "gather", "cat", "pad", "upsample", "select", "slice")),
    ("random numbers", ("rand", "normal", "uniform", "random_", "bernoulli")),
)


def op_kind(name: str) -> str:
    if not name.startswith("aten::"):
        return "outside ATen (Python, autograd engine, profiler)"
    for kind, keys in OP_KINDS:
        if any(k in name for k in keys):
            return kind
    return "elementwise, reductions, other ATen"


def region_of(name: str) -> str | None:
    if name.startswith("Optimizer.step#"):
        return "optimiser step"
    if name.startswith("Optimizer.zero_grad#"):
        return "zero_grad"
    return name if name in REGIONS else None


TOP_OPS = 8  # the slowest operators (self time) to name
REGIONS = ("step", "batch", "training_step", "backward", "clip", "ema", "log")
REGION_NAMES = {
    "step": "trainer loop (autocast, loop body)",
    "batch": "batch slice",
    "training_step": "forward (training_step, less its updates)",
    "backward": "backward",
    "clip": "gradient clipping",
    "optimiser step": "optimiser step",
    "zero_grad": "zero_grad",
    "ema": "EMA update",
    "log": "float(v) of logged values",
}


@contextlib.contextmanager
def labelled_library():
    """Label backward, clipping (the Stepper calls them through these module attributes) and the EMA update."""
    backward, clip = torch.autograd.backward, torch.nn.utils.clip_grad_norm_

    def labelled_backward(*a, **k):
        with torch.profiler.record_function("backward"):
            return backward(*a, **k)

    def labelled_clip(*a, **k):
        with torch.profiler.record_function("clip"):
            return clip(*a, **k)

    def labelled_ema(self, *a, **k):
        with torch.profiler.record_function("ema"):
            return ema_update(self, *a, **k)

    ema_update = EMA.update
    torch.autograd.backward, torch.nn.utils.clip_grad_norm_ = labelled_backward, labelled_clip
    EMA.update = labelled_ema  # type: ignore[method-assign]  # restored below
    try:
        yield
    finally:
        torch.autograd.backward, torch.nn.utils.clip_grad_norm_ = backward, clip
        EMA.update = ema_update  # type: ignore[method-assign]


def profile_regions(s: Setup, steps: int) -> tuple[dict, dict, int]:
    """Per-step time of each region (exclusive of nested regions) and of its ATen operators, and per
    step of each kind of operator; the number of ATen operators called per step; the slowest ones."""
    batches = s.batches()
    label = torch.profiler.record_function
    with labelled_library():
        trainer_step(s, next(batches))
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                with label("step"):
                    local = next(batches)
                    with label("batch"):
                        batch = Batch(s.data.images[local], s.data.labels[local])
                    with label("training_step"):
                        out = s.session.step(batch)
                    with label("log"):
                        _ = {k: float(v) * len(local) for k, v in (out or {}).items()}
    regions: dict[str, list[float]] = {}  # region -> [exclusive µs, µs inside ATen operators]

    def walk(event, region: str) -> None:
        for child in event.cpu_children:
            duration = child.time_range.elapsed_us()
            inner = region_of(child.name)
            if inner is not None:
                regions.setdefault(inner, [0.0, 0.0])[0] += duration
                regions[region][0] -= duration
                walk(child, inner)
            elif child.name.startswith("aten::"):
                regions[region][1] += duration
            else:
                walk(child, region)

    events = prof.events()
    for event in events:
        if event.name == "step" and event.cpu_parent is None:
            regions.setdefault("step", [0.0, 0.0])[0] += event.time_range.elapsed_us()
            walk(event, "step")
    kinds: dict[str, float] = {}
    by_name: dict[str, float] = {}
    ops = 0
    for event in events:
        kinds[op_kind(event.name)] = kinds.get(op_kind(event.name), 0.0) + event.self_cpu_time_total
        by_name[event.name] = by_name.get(event.name, 0.0) + event.self_cpu_time_total
        ops += (
            event.name.startswith("aten::")
            and event.cpu_parent is not None
            and not event.cpu_parent.name.startswith("aten::")
        )
    per_step = {k: [v / steps / 1e3 for v in vals] for k, vals in regions.items()}
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:TOP_OPS]
    return per_step, {k: v / steps / 1e3 for k, v in kinds.items()}, ops // steps, top


def ablations(s: Setup, steps: int, repeats: int) -> dict[str, float]:
    """CPU-ms per step of the trainer's step with parts left out, and at batch 2 (interleaved, medians)."""
    variants = {
        "trainer step": ({}, None),
        "without the EMA update": ({"ema": False}, None),
        "without float(v) reads": ({"log": False}, None),
        "training_step alone": ({"ema": False, "log": False}, None),
        "trainer step at batch 2": ({}, 2),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    iterators = {k: s.batches(b) for k, (_, b) in variants.items()}
    for _ in range(repeats):
        for name, (options, _b) in variants.items():
            it = iterators[name]
            cpu, _ = timed(lambda it=it, options=options: [trainer_step(s, next(it), **options) for _ in range(steps)])
            times[name].append(1e3 * cpu / steps)
    return {k: statistics.median(v) for k, v in times.items()}


def profile(args) -> None:
    splits: dict[int, ImageDataset] = {}
    peaks = {p: peak_rates(torch.float32 if p == "fp32" else torch.bfloat16) for p in PRECISIONS}
    for size in args.sizes:
        for family in args.families:
            flops, _ = flops_per_image(family, size, splits)
            for precision in args.precisions:
                profile_one(build(family, size, precision, splits), flops, peaks, args)


def profile_one(s: Setup, flops: float, peaks: dict, args) -> None:
    """Print where one training step of ``s`` spends its time."""
    family, size, precision = s.family, s.size, s.precision
    steps = steps_for(s, args.seconds)
    ab = ablations(s, steps, args.repeats)
    regions, kinds, ops, top = profile_regions(s, steps)
    full = ab["trainer step"]
    b = s.batch_size
    per_image = (full - ab["trainer step at batch 2"]) / (b - 2)
    fixed = full - b * per_image
    print(
        f"\n### {family} {size}x{size}, {precision}, batch {b}, {args.threads} threads: "
        f"{full:.2f} CPU-ms per step ({1e3 * b / full:.0f} img/CPU-s), {ops} ATen ops per step\n"
    )
    print("| without the profiler | CPU-ms per step | difference |")
    print("|---|---|---|")
    for name, value in ab.items():
        print(f"| {name} | {value:.2f} | {value - full:+.2f} |")
    print(
        f"\nfixed cost per step (t = a + b*batch through batch 2 and {b}): a = {fixed:.2f} ms "
        f"({100 * fixed / full:.0f}% of the step), b = {1e3 * per_image:.0f} µs per image\n"
    )
    # The profiler's times are wall times (inflated on a loaded machine, and by the profiler):
    # its shares are scaled to the CPU-ms of the unprofiled step.
    total = sum(v[0] for v in regions.values())
    print(
        f"| region (torch.profiler, {steps} steps) | % of step | ~CPU-ms per step "
        "| of which outside ATen ops (Python, autograd engine) |"
    )
    print("|---|---|---|---|")
    for key, name in REGION_NAMES.items():
        if key in regions:
            t, aten = regions[key]
            print(f"| {name} | {100 * t / total:.1f}% | {full * t / total:.2f} | {full * (t - aten) / total:.2f} |")
    outside = sum(t - a for t, a in regions.values())
    print(f"| **step** | 100% | {full:.2f} | {full * outside / total:.2f} ({100 * outside / total:.0f}%) |")
    print("\n| operator kind (self time) | % of step | ~CPU-ms per step |")
    print("|---|---|---|")
    kinds_total = sum(kinds.values())
    for kind, t in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {100 * t / kinds_total:.1f}% | {full * t / kinds_total:.2f} |")
    print("\n" + ", ".join(f"{name} {100 * t / steps / 1e3 / kinds_total:.0f}%" for name, t in top))
    gemm_share = kinds.get(OP_KINDS[0][0], 0.0) / kinds_total
    if gemm_share:
        rate = flops * b / (full / 1e3 * gemm_share)  # FLOP per CPU-s inside those operators
        step_rate = flops * b / (full / 1e3)
        print(
            f"\nthe step: {step_rate / 1e9:.0f} GFLOP/CPU-s; its GEMM/convolution/attention operators "
            f"({100 * gemm_share:.0f}% of it): {rate / 1e9:.0f} GFLOP/CPU-s while they run, that is"
        )
        for kind in ("gemm", "conv"):
            ref = peaks[precision][kind][0]
            print(
                f"- {100 * rate / ref:.0f}% of the {precision} {kind} reference ({ref / 1e9:.0f} "
                f"GFLOP/CPU-s); the step: {100 * step_rate / ref:.0f}%"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (medians are reported)")
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU-s of training per measurement")
    parser.add_argument("--families", default="vae,dcgan,diffusion")
    parser.add_argument("--sizes", default="8,28", help="8 (digits) and/or 28 (mnist-sample)")
    parser.add_argument("--profile", action="store_true", help="profile one training step instead (see above)")
    parser.add_argument("--precisions", default="fp32,bf16", help="with --profile: fp32 and/or bf16")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    args.families = args.families.split(",")
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.precisions = args.precisions.split(",")
    if any(s not in DATASETS for s in args.sizes):
        parser.error(f"--sizes must be among {', '.join(map(str, DATASETS))}")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
        f"native bf16: {cpu_has_native_bf16()}, "
        f"load average {os.getloadavg()[0]:.2f} at the start",
        flush=True,
    )
    if args.profile:
        profile(args)
        return
    result = benchmark(args)
    print_tables(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
