"""genimg's diffusion training step against diffusers' UNet2DModel + DDPMScheduler training loop at
28x28, matched in parameters and FLOPs per image, in fp32 and bf16 (issue 15).

    pip install -e '.[bench]'   # diffusers, beside the installed torch
    python benchmarks/bench_diffusion_training.py [--threads 1] [--repeats 3] [--seconds 3] [--json out.json]

- **genimg**: the U-Net of ``genimg.config.config_for("diffusion", ["dataset=mnist-sample"])``
  (32 channels, multipliers 1, 2, 2 at 28, 14, 7 pixels, one residual block per level on the way
  down and two on the way up, self-attention at 7x7 and in the middle, scale-shift norm), set up
  as the trainer sets it up and stepped as its epoch loop steps it (``bench_speed.trainer_step``:
  an index slice of the in-memory split, ``training_step`` under the library's autocast, the
  EMA update (0.995), the ``float(v)`` of the logged loss): cosine schedule, epsilon target, MSE,
  AdamW (lr 1e-3, no weight decay, linear warm-up), gradient clipping at 1.
- **diffusers**: ``UNet2DModel`` with the same layout (block_out_channels (32, 64, 64),
  layers_per_block 1, DownBlock2D, DownBlock2D, AttnDownBlock2D / AttnUpBlock2D, UpBlock2D,
  UpBlock2D, GroupNorm with 8 groups, attention heads of 32 channels, scale-shift time
  conditioning) and ``DDPMScheduler`` (1000 steps, squaredcos_cap_v2: the same cosine betas),
  trained as diffusers' ``train_unconditional.py`` example trains it: noise, random timesteps,
  ``add_noise``, MSE on the noise, backward, ``clip_grad_norm_`` (1.0), AdamW (same settings),
  a LambdaLR warm-up step, zero_grad, ``EMAModel.step`` (decay 0.995, foreach); the loss read
  once per step (its progress bar). bf16: the forward pass and the loss in
  ``torch.autocast("cpu", torch.bfloat16)``, as accelerate's ``mixed_precision="bf16"`` does.

Both see the same batches of 64 images from the 4,000-image MNIST sample. The table gives the
parameter counts, the FLOPs per image per training step (``FlopCounterMode`` over one step), and
images per CPU-second (``time.process_time``, every thread) and per wall-second: medians of
``--repeats`` interleaved rounds of about ``--seconds`` CPU-s each, after warm-up steps. One
thread by default: with more threads than idle cores, bf16 training stalls in oneDNN's
weight-gradient convolutions for both libraries alike (see bench_speed.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import warnings
from collections.abc import Callable

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench_speed import Setup, build, timed, trainer_step

VARIANTS = ("genimg fp32", "diffusers fp32", "genimg bf16", "diffusers bf16")


class DiffusersLoop:
    """diffusers' unconditional training loop, one step at a time."""

    def __init__(self, images: torch.Tensor, precision: str, lr: float, warmup: int, grad_clip: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from diffusers import DDPMScheduler, UNet2DModel
            from diffusers.training_utils import EMAModel
        torch.manual_seed(0)
        self.model = UNet2DModel(
            sample_size=images.shape[-1],
            in_channels=images.shape[1],
            out_channels=images.shape[1],
            block_out_channels=(32, 64, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            norm_num_groups=8,
            attention_head_dim=32,
            resnet_time_scale_shift="scale_shift",
        ).train()
        self.scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.0)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / warmup))
        self.ema = EMAModel(self.model.parameters(), decay=0.995, foreach=True)
        self.images = images * 2 - 1
        self.grad_clip = grad_clip
        self.autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def step(self, local: torch.Tensor, ema: bool = True, log: bool = True) -> None:
        clean = self.images[local]
        noise = torch.randn(clean.shape)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (clean.shape[0],)).long()
        noisy = self.scheduler.add_noise(clean, noise, timesteps)
        with self.autocast:
            output = self.model(noisy, timesteps).sample
            loss = F.mse_loss(output.float(), noise.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad()
        if ema:
            self.ema.step(self.model.parameters())
        if log:
            _ = loss.detach().item()


def batches(n: int, batch_size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=g)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def make(variant: str, splits: dict) -> tuple[object, Callable, int]:
    """The variant's object, its one-step function, and its batch size."""
    precision = variant.split()[1]
    genimg_setup: Setup = build("diffusion", 28, precision, splits)
    if variant.startswith("genimg"):
        return genimg_setup, lambda local, **kw: trainer_step(genimg_setup, local, **kw), genimg_setup.batch_size
    model = genimg_setup.model
    loop = DiffusersLoop(
        genimg_setup.data.images,
        precision,
        lr=model.config.lr,
        warmup=model.config.warmup_steps,
        grad_clip=genimg_setup.stepper.grad_clip,
    )
    return loop, loop.step, genimg_setup.batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (medians are reported)")
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU-s of training per variant per round")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    splits: dict = {}
    setups = {v: make(v, splits) for v in VARIANTS}
    info = {}
    for v, (obj, step, b) in setups.items():
        model = obj.model
        it = batches(len(splits[28]), b, seed=1)
        if v.endswith("fp32"):
            with FlopCounterMode(display=False) as counter:
                step(next(it), ema=False, log=False)
            info[v.split()[0]] = {
                "params": sum(p.numel() for p in (model.net if v.startswith("genimg") else model).parameters()),
                "mflop": counter.get_total_flops() / b / 1e6,
            }
        for _ in range(3):  # warm-up
            step(next(it))
        cpu, _ = timed(lambda step=step, it=it: [step(next(it)) for _ in range(2)])
        setups[v] = (obj, step, b, max(3, math.ceil(args.seconds / max(cpu / 2, 1e-6))), it)
    rates: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for r in range(args.repeats):
        for v in VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]:
            _, step, b, steps, it = setups[v]
            cpu, wall = timed(lambda step=step, it=it, steps=steps: [step(next(it)) for _ in range(steps)])
            rates[v].append((steps * b / cpu, steps * b / wall))
        print(f"  round {r + 1} done", flush=True)
    med = {v: (statistics.median(x[0] for x in rs), statistics.median(x[1] for x in rs)) for v, rs in rates.items()}
    print(
        f"\ndiffusion training at 28x28 (MNIST sample), batch 64, {args.threads} thread(s), torch {torch.__version__}; "
        f"load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n"
    )
    for lib, i in info.items():
        print(f"- {lib}: {i['params']:,} parameters, {i['mflop']:.1f} MFLOP per image per training step")
    print("\n| variant | img/CPU-s (median) | vs diffusers, same precision | img/s wall (median) | vs diffusers |")
    print("|---|---|---|---|---|")
    for v, (cpu, wall) in med.items():
        ref = med["diffusers " + v.split()[1]]
        print(f"| {v} | {cpu:.1f} | {cpu / ref[0]:.2f}x | {wall:.1f} | {wall / ref[1]:.2f}x |")
    g32, d32, g16 = med["genimg fp32"], med["diffusers fp32"], med["genimg bf16"]
    print(
        f"\ngenimg/diffusers, fp32: {g32[0] / d32[0]:.2f}x CPU, {g32[1] / d32[1]:.2f}x wall (goal >= 1.0x); "
        f"genimg bf16 vs diffusers fp32: {g16[0] / d32[0]:.2f}x CPU, {g16[1] / d32[1]:.2f}x wall; "
        f"genimg bf16/fp32: {g16[0] / g32[0]:.2f}x CPU"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "info": info, "rates": rates, "medians": med}, f, indent=2)


if __name__ == "__main__":
    main()
