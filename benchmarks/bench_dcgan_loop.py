"""genimg's DCGAN training epoch against a plain loop in the style of pytorch/examples' dcgan (issue 15).

    python benchmarks/bench_dcgan_loop.py [--dataset mnist-sample|digits] [--epochs 2] [--repeats 3]
                                          [--threads 1] [--augment off|on] [--json out.json]

Both sides train the same generator and discriminator: the modules of the DCGAN that
``genimg.config.config_for("dcgan", ["dataset=..."])`` builds (the dataset's preset), with the
same initial weights, laid out channels-last where genimg lays them out so (28x28), on the same
in-memory training split, batch 64 (the last batch of an epoch smaller, as a DataLoader without
drop_last gives it), Adam(lr 2e-4, betas (0.5, 0.999)) for each network, one-sided label
smoothing 0.1, and the same augmentation: none with ``--augment off`` (the default, as in
pytorch/examples), genimg's DiffAugment translation (1/8 of the image side) with ``--augment on``.

- **plain loop**: pytorch/examples' dcgan loop body as written there: D.zero_grad(); BCE on
  D(real), backward; G(noise); BCE on D(fake.detach()), backward; optimizerD.step(); G.zero_grad();
  BCE on D(fake) with target 1, backward (D's parameter gradients computed and thrown away, as
  there); optimizerG.step(). ``torch.optim.Adam`` with its defaults (pytorch/examples' choice);
  BCE on logits (genimg's D ends in a logit). Under bf16, the forward passes in
  ``torch.autocast("cpu", torch.bfloat16)``.
- **genimg**: ``genimg.train.train`` as ``genimg train dcgan`` runs it (``precision=fp32`` or
  ``bf16``), with evaluation, FID, sample grids and checkpoints pushed past the timed epochs. Its
  epoch time is the trainer's own: the ``cpu_s`` / ``time_s`` that ``train_epoch`` adds to
  metrics.jsonl. genimg's default keeps an EMA of G (0.995); the table has genimg with and
  without it: "EMA off" is the same work as the plain loop.

Each run trains ``--epochs`` + 1 epochs and the first (oneDNN's primitive caches filling) is not
counted. The variants alternate within each of ``--repeats`` rounds, in a rotating order, so a
busy spell on the shared machine hits them all alike; the table gives the medians of the
per-epoch CPU seconds (``time.process_time``, every thread) and wall seconds, and each as a
ratio to the plain loop in fp32. The goal: genimg's fp32 epoch at most 1.05x the plain loop's.

One thread by default: with more threads than idle cores, bf16 convolutions' weight gradients
stall in oneDNN (see bench_speed.py) and a bf16 run takes ~10x longer than the fp32 one.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch
import torch.nn.functional as F

from genimg.config import config_for
from genimg.data.registry import load_split
from genimg.data.spec import DataSpec
from genimg.models.base import build_model
from genimg.models.dcgan.networks import random_translate
from genimg.models.precision import use_channels_last
from genimg.train import train

VARIANTS = ("plain fp32", "genimg fp32, EMA off", "genimg fp32, EMA on (default)", "plain bf16", "genimg bf16, EMA off")


def overrides(args) -> list[str]:
    return [f"dataset={args.dataset}", "seed=0"] + ([] if args.augment == "on" else ["translate=0"])


def plain_run(args, precision: str) -> list[tuple[float, float]]:
    """(CPU s, wall s) of each epoch of the plain loop."""
    config = config_for("dcgan", overrides(args))
    data = load_split(config.data, "train", "cpu")
    torch.manual_seed(0)
    model = build_model("dcgan", config.model, DataSpec.of(data))
    if use_channels_last(model, data.image_shape[-1]):
        model = model.to(memory_format=torch.channels_last)
        data = data.channels_last()
    net_g, net_d = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
    c = config.model
    opt_d = torch.optim.Adam(net_d.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
    shift = round(c.translate * data.image_shape[-1])
    real_label, fake_label = 1.0 - c.label_smoothing, 0.0
    images, b = data.images, config.train.batch_size
    order_rng = torch.Generator().manual_seed(0)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    times = []
    for _ in range(args.epochs + 1):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        order = torch.randperm(len(images), generator=order_rng)
        for i, start in enumerate(range(0, len(order), b)):
            real = images[order[start : start + b]] * 2 - 1
            n = real.shape[0]
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            net_d.zero_grad()
            label = torch.full((n,), real_label)
            with autocast:
                output = net_d(random_translate(real, shift, -1.0))
                err_d_real = F.binary_cross_entropy_with_logits(output.float(), label)
            err_d_real.backward()
            noise = torch.randn(n, c.latent_dim)
            with autocast:
                fake = net_g(noise)
                label.fill_(fake_label)
                output = net_d(random_translate(fake.detach(), shift, -1.0))
                err_d_fake = F.binary_cross_entropy_with_logits(output.float(), label)
            err_d_fake.backward()
            opt_d.step()
            # (2) Update G: maximize log(D(G(z)))
            net_g.zero_grad()
            label.fill_(1.0)
            with autocast:
                output = net_d(random_translate(fake, shift, -1.0))
                err_g = F.binary_cross_entropy_with_logits(output.float(), label)
            err_g.backward()
            opt_g.step()
            if i % 50 == 0:  # pytorch/examples prints its losses every 50 iterations
                _ = ((err_d_real + err_d_fake).item(), err_g.item())
        times.append((time.process_time() - cpu0, time.perf_counter() - wall0))
    return times[1:]


def genimg_run(args, precision: str, ema: bool) -> list[tuple[float, float]]:
    """(CPU s, wall s) of each epoch of genimg's trainer, from its metrics.jsonl."""
    extra = [
        f"precision={precision}",
        f"epochs={args.epochs + 1}",
        f"threads={args.threads}",
        "select_by=last",
        "fid_every=0",
        "sample_every=0",
        f"eval_every={args.epochs + 1}",
        "checkpoint_every_s=1e9",
        "progress=false",
    ] + ([] if ema else ["ema_decay=null"])
    with tempfile.TemporaryDirectory() as tmp:
        config = config_for("dcgan", overrides(args) + extra + [f"out={tmp}", "run_name=dcgan"])
        train(config, quiet=True)
        records = [json.loads(line) for line in (Path(tmp) / "dcgan" / "metrics.jsonl").read_text().splitlines()]
    cum = [(0.0, 0.0)] + [(r["cpu_s"], r["time_s"]) for r in records]
    return [(cum[i + 1][0] - cum[i][0], cum[i + 1][1] - cum[i][1]) for i in range(1, len(records))]


def run(variant: str, args) -> list[tuple[float, float]]:
    precision = "bf16" if "bf16" in variant else "fp32"
    if variant.startswith("plain"):
        return plain_run(args, precision)
    return genimg_run(args, precision, ema="EMA on" in variant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist-sample", choices=("mnist-sample", "digits"))
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run (after one warm-up epoch)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of all variants, interleaved")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--augment", default="off", choices=("off", "on"), help="DiffAugment translation on both")
    parser.add_argument("--json", help="write the per-epoch times here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for r in range(args.repeats):
        for v in VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]:
            times[v] += run(v, args)
            print(f"  round {r + 1}: {v}", flush=True)
    med = {v: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)) for v, ts in times.items()}
    config = config_for("dcgan", overrides(args))
    print(
        f"\nDCGAN on {args.dataset} (preset: latent {config.model.latent_dim}, G/D features "
        f"{config.model.g_features}/{config.model.d_features}), batch {config.train.batch_size}, augmentation "
        f"{args.augment}, {args.threads} thread(s), torch {torch.__version__}, {args.epochs} timed epochs x "
        f"{args.repeats} rounds per variant; load average {load0:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end\n"
    )
    print("| variant | CPU s per epoch (median) | vs plain fp32 | wall s per epoch (median) | vs plain fp32 |")
    print("|---|---|---|---|---|")
    base = med["plain fp32"]
    for v, (cpu, wall) in med.items():
        print(f"| {v} | {cpu:.2f} | {cpu / base[0]:.2f}x | {wall:.2f} | {wall / base[1]:.2f}x |")
    g32 = med["genimg fp32, EMA off"]
    print(
        f"\ngenimg/plain, fp32, same work (EMA off): {g32[0] / base[0]:.2f}x CPU, {g32[1] / base[1]:.2f}x wall "
        f"(goal <= 1.05x); bf16 speed-up on top for genimg: {g32[0] / med['genimg bf16, EMA off'][0]:.2f}x CPU, "
        f"{g32[1] / med['genimg bf16, EMA off'][1]:.2f}x wall"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "epochs": times, "medians": med}, f, indent=2)


if __name__ == "__main__":
    main()
