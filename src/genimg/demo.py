"""`make demo`: train the three families on the 28x28 MNIST sample (the lecture's scale) for a
fixed compute budget each, score them the same way, and compare them in one HTML report. Prints
the CPU it ran on, whether bf16 was used, each family's FID/floor, and how long each step took.

    python -m genimg.demo [--dataset mnist-sample|digits] [--out DIR] [--vae-only]

A promise in minutes is kept by compute budgets, not epochs: a CPU without native bf16 (AVX2
only) runs every step 2-3x slower, so a number of epochs that fits 10 minutes on one machine
takes 30 on another. Each family trains for ``train.budget`` CPU-minutes at one thread, and
the scoring after training uses a fixed, small number of samples drawn with a fast sampler.

The families train in two lanes side by side, one thread each (the diffusion model in one; the
VAE, then the DCGAN, in the other): on a 2-core laptop that is the fastest split, and one
thread is where bf16 autocast pays on a CPU that has it (models/precision.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import genimg  # noqa: F401  (OMP_WAIT_POLICY before torch)
from genimg.config.run_config import apply_overrides, default_config
from genimg.evaluate.evaluator import evaluate_run
from genimg.experiments.report import build_report
from genimg.models.precision import cpu_has_native_bf16
from genimg.train.trainer import train

# Each family's CPU budget and what keeps the rest of its lane short: no FID checks or grids
# during training (the budget goes to training), the kept checkpoint the last one.
QUIET_TRAINING = ["fid_every=0", "sample_every=0", "select_by=last"]
DEMO_RUNS = {
    "mnist-sample": {
        "vae": ["budget=1.5m", "likelihood_k=100"],
        "dcgan": ["budget=3m", *QUIET_TRAINING],
        # The longest lane alone (LANES); its grid and scores drawn with the preset's DPM-Solver++(2M), 50 steps.
        "diffusion": ["budget=7m", *QUIET_TRAINING],
    },
    "digits": {
        "vae": ["budget=30s"],
        "dcgan": ["budget=1.5m", *QUIET_TRAINING],
        "diffusion": ["budget=2.5m", *QUIET_TRAINING],
    },
}
# Scoring: one sampling seed of 500 images (on the digits, its whole 447-image test split),
# against a floor of 5 real subsets; diffusion sampled with its fast monitoring sampler.
DEMO_SAMPLES = {"mnist-sample": 500, "digits": 447}
DEMO_SCORING: dict[str, Any] = {"seeds": 1, "floor_subsets": 5, "metrics": ("fid", "kid", "is", "pr")}
LANES = (("diffusion",), ("vae", "dcgan"))  # the longest alone, the two shorter ones in turn


def cpu_name() -> str:
    """The CPU's model name, and whether torch finds native bf16 on it (what `precision=auto` asks)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
                break
    except OSError:  # not Linux: the platform's word for it
        pass
    native = "native bf16" if cpu_has_native_bf16() else "no native bf16 (fp32)"
    return f"{name}, {os.cpu_count()} cores, {native}"


def run_family(family: str, dataset: str, out: Path, threads: int) -> dict[str, Any]:
    """Train one family for its demo budget and score it; returns what the summary prints."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    overrides = DEMO_RUNS[dataset][family] + [
        f"dataset={dataset}",
        f"threads={threads}",
        f"out={out}",
        f"run_name={family}",
        "progress=false",
    ]
    config = apply_overrides(default_config(family, dataset), overrides)
    print(f"== {family}: training on {dataset} for {config.train.budget} of CPU time", flush=True)
    result = train(config, quiet=True)
    trained = time.perf_counter() - t0
    print(f"== {family}: trained {result.summary['epochs_trained']} epochs in {trained:.0f} s; scoring", flush=True)
    scores = evaluate_run(
        result.run.path,
        n=DEMO_SAMPLES[dataset],
        sample_options=result.model.monitoring_sample_options(),
        progress=False,
        log=lambda _line: None,
        **DEMO_SCORING,
    )
    seconds = time.perf_counter() - t0
    ratio = scores.get("fid_over_floor")
    print(f"== {family}: done in {seconds:.0f} s, FID/floor {ratio:.2f}" if ratio else f"== {family}: done", flush=True)
    return {
        "family": family,
        "path": result.run.path,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu0,
        "precision": result.summary.get("precision"),
        "epochs": result.summary["epochs_trained"],
        "fid_over_floor": ratio,
    }


def run_lane(families: tuple[str, ...], dataset: str, out: Path, threads: int) -> list[dict[str, Any]]:
    return [run_family(family, dataset, out, threads) for family in families]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DEMO_RUNS), default="mnist-sample", help="default mnist-sample")
    ap.add_argument("--out", help="demo directory (default runs/demo-TIME)")
    ap.add_argument("--vae-only", action="store_true", help="only the VAE (a minute or two)")
    args = ap.parse_args(argv)

    out = Path(args.out or f"runs/demo-{dt.datetime.now():%Y%m%d-%H%M%S}")
    lanes = [("vae",)] if args.vae_only else list(LANES)
    parallel = len(lanes) > 1 and (os.cpu_count() or 1) >= 2
    print(f"== genimg demo on {cpu_name()}", flush=True)
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
    done.sort(key=lambda item: order.index(item["family"]))
    runs = [item["path"] for item in done]

    report = build_report(runs, out / "report.html") if len(runs) > 1 else None
    total = time.perf_counter() - started
    print(f"\n== demo finished in {total:.0f} s on {cpu_name()}")
    print(
        f"  {'family':<10} {'budget':>8} {'epochs':>7} {'precision':>9} {'FID/floor':>10} {'seconds':>8} {'CPU s':>7}"
    )
    for item in done:
        budget = next(o.partition("=")[2] for o in DEMO_RUNS[args.dataset][item["family"]] if o.startswith("budget="))
        ratio = f"{item['fid_over_floor']:.2f}" if item["fid_over_floor"] else "-"
        print(
            f"  {item['family']:<10} {budget:>8} {item['epochs']:>7} {item['precision']:>9} {ratio:>10} "
            f"{item['seconds']:>8.0f} {item['cpu_seconds']:>7.0f}"
        )
    for path in runs:
        print(f"  run directory: {path}  (samples.png, metrics.jsonl, summary.json, eval/metrics.json)")
    if report:
        print(f"  report: {Path(report).resolve()}")


if __name__ == "__main__":
    main()
