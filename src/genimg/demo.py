"""`make demo`: train the three families on the 28x28 MNIST sample (the lecture's scale) at
short budgets, score them the same way, and compare them in one HTML report. Prints where
everything is and how long each step took.

    python -m genimg.demo [--dataset mnist-sample|digits] [--out DIR] [--vae-only]

The families train in two lanes side by side, one thread each (the diffusion model in one; the
VAE, then the DCGAN, in the other): on a 2-core laptop that is the fastest split, and one
thread is where bf16 autocast pays on a CPU that has it (models/precision.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import genimg  # noqa: F401  (OMP_WAIT_POLICY before torch)
from genimg.config.run_config import apply_overrides, default_config
from genimg.evaluate.evaluator import evaluate_run
from genimg.experiments.report import build_report
from genimg.train.trainer import train

# Short budgets that still show what each family does; the presets train longer. At 28x28 the
# diffusion lane sets the pace: no FID checks while training, and its grids drawn with DDIM-50.
DEMO_RUNS = {
    "mnist-sample": {
        "vae": ["epochs=30", "likelihood_k=100"],
        "dcgan": ["epochs=100"],
        "diffusion": ["epochs=15", "fid_every=0", "select_by=last", "sampler=ddim", "sample_steps=50"],
    },
    "digits": {"vae": [], "dcgan": ["epochs=160", "fid_every=20"], "diffusion": ["epochs=60"]},
}
DEMO_SAMPLING = {"diffusion": {"sampler": "ddim", "steps": 50}}
LANES = (("diffusion",), ("vae", "dcgan"))  # the longest alone, the two shorter ones in turn


def run_family(family: str, dataset: str, out: Path, threads: int) -> tuple[str, Path, float]:
    """Train one family with its demo budget and score it; returns (family, run path, seconds)."""
    t0 = time.perf_counter()
    print(f"== {family}: training on {dataset}", flush=True)
    overrides = DEMO_RUNS[dataset][family] + [
        f"dataset={dataset}",
        f"threads={threads}",
        f"out={out}",
        f"run_name={family}",
        "progress=false",
    ]
    result = train(apply_overrides(default_config(family, dataset), overrides), quiet=True)
    print(
        f"== {family}: trained in {time.perf_counter() - t0:.0f} s; scoring (FID, KID, IS, precision/recall)",
        flush=True,
    )
    evaluate_run(
        result.run.path,
        seeds=2,
        floor_subsets=5,
        metrics=("fid", "kid", "is", "pr"),
        sample_options=DEMO_SAMPLING.get(family),
        progress=False,
    )
    seconds = time.perf_counter() - t0
    print(f"== {family}: done in {seconds:.0f} s", flush=True)
    return family, result.run.path, seconds


def run_lane(families: tuple[str, ...], dataset: str, out: Path, threads: int) -> list[tuple[str, Path, float]]:
    return [run_family(family, dataset, out, threads) for family in families]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DEMO_RUNS), default="mnist-sample", help="default mnist-sample")
    ap.add_argument("--out", help="demo directory (default runs/demo-TIME)")
    ap.add_argument("--vae-only", action="store_true", help="only the VAE (a minute or two)")
    args = ap.parse_args(argv)

    out = Path(args.out or f"runs/demo-{dt.datetime.now():%Y%m%d-%H%M%S}")
    lanes = [("vae",)] if args.vae_only else list(LANES)
    parallel = len(lanes) > 1 and (os.cpu_count() or 1) >= 2
    started = time.perf_counter()
    if parallel:
        # spawn: each lane is a fresh interpreter (no forked OpenMP pool), one thread each
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(len(lanes), mp_context=context) as pool:
            futures = [pool.submit(run_lane, lane, args.dataset, out, 1) for lane in lanes]
            done = [item for future in futures for item in future.result()]
    else:
        done = [item for lane in lanes for item in run_lane(lane, args.dataset, out, os.cpu_count() or 1)]
    order = list(DEMO_RUNS[args.dataset])  # the report's rows in the table's order, whichever lane ended first
    done.sort(key=lambda item: order.index(item[0]))
    runs = [path for _, path, _ in done]

    report = build_report(runs, out / "report.html") if len(runs) > 1 else None
    total = time.perf_counter() - started
    print(f"\n== demo finished in {total:.0f} s ({', '.join(f'{f} {s:.0f} s' for f, _, s in done)})")
    for path in runs:
        print(f"  run directory: {path}  (samples.png, metrics.jsonl, summary.json, eval/metrics.json)")
    if report:
        print(f"  report: {Path(report).resolve()}")


if __name__ == "__main__":
    main()
