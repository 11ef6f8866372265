"""`make demo`: train the three families on the bundled digits at short budgets, score them
the same way, and compare them in one HTML report. Prints where everything is and how long
each step took.

    python -m genimg.demo [--out DIR] [--vae-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import genimg  # noqa: F401  (OMP_WAIT_POLICY before torch)
from genimg.config.run_config import apply_overrides, default_config
from genimg.evaluate.evaluator import evaluate_run
from genimg.experiments.report import build_report
from genimg.train.trainer import train

# Short budgets that still show what each family does; the defaults train longer.
DEMO_RUNS = {
    "vae": [],
    "dcgan": ["epochs=160", "fid_every=20"],
    "diffusion": ["epochs=60"],
}
DEMO_SAMPLING = {"diffusion": {"sampler": "ddim", "steps": 50}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="demo directory (default runs/demo-TIME)")
    ap.add_argument("--vae-only", action="store_true", help="only the VAE (about a minute)")
    args = ap.parse_args(argv)

    out = Path(args.out or f"runs/demo-{dt.datetime.now():%Y%m%d-%H%M%S}")
    families = ["vae"] if args.vae_only else list(DEMO_RUNS)
    started = time.perf_counter()
    timings = {}
    runs = []
    for family in families:
        t0 = time.perf_counter()
        print(f"\n== {family}: training on the bundled digits")
        config = apply_overrides(default_config(family), DEMO_RUNS[family] + [f"out={out}", f"run_name={family}"])
        result = train(config)
        print(f"== {family}: scoring (FID, KID, IS, precision/recall against the real-vs-real floor)")
        evaluate_run(
            result.run.path,
            seeds=2,
            floor_subsets=5,
            metrics=("fid", "kid", "is", "pr"),
            sample_options=DEMO_SAMPLING.get(family),
            progress=True,
        )
        timings[family] = time.perf_counter() - t0
        runs.append(result.run.path)

    report = None
    if len(runs) > 1:
        report = build_report(runs, out / "report.html")
    total = time.perf_counter() - started
    print("\n== demo finished in {:.0f} s ({})".format(total, ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())))
    for path in runs:
        print(f"  run directory: {path}  (samples.png, metrics.jsonl, summary.json, eval/metrics.json)")
    if report:
        print(f"  report: {Path(report).resolve()}")


if __name__ == "__main__":
    main()
