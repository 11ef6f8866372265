"""Outlier detection on digits: the default VAE and diffusion models against every offline OOD set.

    python benchmarks/bench_outliers.py                      # trains the runs it needs, then scores them
    python benchmarks/bench_outliers.py --vae RUN --vae-heldout RUN --diffusion RUN --dcgan RUN
    python benchmarks/bench_outliers.py --diffusion-n 100 --json out.json

Runs (trained into --out when not given):
- ``vae``: the default VAE (all ten classes);
- ``vae-heldout``: the default VAE trained on digits 0-8, for the held-out-class row (the 9s);
- ``diffusion``: the default diffusion model;
- ``dcgan``: the default DCGAN, whose discriminator logit is scored as a non-likelihood comparison.

Each run is scored by ``genimg.tasks.outliers.detect_outliers`` with every score its family
has (the likelihood ratio trains, or reuses, a background model inside RUN/outliers/), and
the script prints one AUROC table (rows: model x score, columns: OOD sets), the FPR@95 table,
the likelihood per set (the known failure: OOD images the model finds as likely as real
digits), and the CPU time of each step. The diffusion bound is exact (all 1000 terms), ~1.3 s
of one CPU core per image, so --diffusion-n (default 100) images per set are scored for it.
Per-image likelihoods are cached in RUN/outliers/cache/, so a second call costs seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch

from genimg.runs import RunDir
from genimg.tasks.outliers import BUILTIN_SETS, OutlierOptions, detect_outliers, score_label
from genimg.train import apply_overrides, default_config, train

QUIET = ["progress=false"]
RUNS = {
    "vae": ("vae", []),
    "vae-heldout": ("vae", ["classes=[0,1,2,3,4,5,6,7,8]"]),
    "diffusion": ("diffusion", []),
    "dcgan": ("dcgan", []),
}
ALL_SETS = list(BUILTIN_SETS)  # heldout, uniform, gaussian, constant, inverted, natural, faces


def ensure_run(name: str, given: str | None, out: Path, threads: int) -> tuple[Path, float]:
    """The run directory to score, trained now (CPU seconds returned) when none is given or cached."""
    if given:
        return Path(given), 0.0
    path = out / name
    if RunDir(path).is_finished():
        return path, 0.0
    family, overrides = RUNS[name]
    settings = [f"out={out}", f"run_name={name}", f"threads={threads}", *QUIET, *overrides]
    config = apply_overrides(default_config(family), settings)
    resume = path if (path / "checkpoints" / "last").exists() else None
    print(f"training {name} -> {path}", flush=True)
    cpu = time.process_time()
    train(config, resume=resume, quiet=True)
    return path, time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vae", help="run directory of a default VAE (trained if omitted)")
    p.add_argument("--vae-heldout", help="run directory of a VAE trained on classes 0-8 (trained if omitted)")
    p.add_argument("--diffusion", help="run directory of a default diffusion model (trained if omitted)")
    p.add_argument("--dcgan", help="run directory of a default DCGAN (trained if omitted)")
    p.add_argument("--out", default="runs/bench-outliers", help="where omitted runs are trained")
    p.add_argument("--n", type=int, help="VAE runs: images per set (default: the whole test split)")
    p.add_argument("--diffusion-n", type=int, default=100, help="diffusion run: images per set (default 100)")
    p.add_argument("--k", type=int, default=100, help="VAE: importance samples")
    p.add_argument("--t-stride", type=int, default=1, help="diffusion: 1 = exact bound")
    p.add_argument("--mu", type=float, default=0.15, help="background perturbation rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip", default="", help="comma-separated runs to leave out (vae, vae-heldout, diffusion, dcgan)")
    p.add_argument("--json", help="also write the tables here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    skip = {s for s in args.skip.split(",") if s}

    results = {}
    given_runs = {"vae": args.vae, "vae-heldout": args.vae_heldout, "diffusion": args.diffusion, "dcgan": args.dcgan}
    for name, given in given_runs.items():
        if name in skip:
            continue
        path, train_cpu = ensure_run(name, given, out, args.threads)
        is_diffusion = RunDir.open(path).config().family == "diffusion"
        sets = ["heldout"] if name == "vae-heldout" else ALL_SETS
        options = OutlierOptions(
            ood=sets,
            n=args.diffusion_n if is_diffusion else args.n,
            seed=args.seed,
            k=args.k,
            t_stride=args.t_stride,
            mu=args.mu,
            progress=False,
        )
        print(f"scoring {name} ({path})", flush=True)
        cpu = time.process_time()
        table = detect_outliers(path, options, log=lambda *a: None)
        results[name] = {
            "run": str(path),
            "train_cpu_s": round(train_cpu, 1),
            "score_cpu_s": round(time.process_time() - cpu, 1),
            "table": table,
        }

    report = format_report(results)
    print(report)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "markdown": report}, indent=2, default=str) + "\n")


def format_report(results: dict) -> str:
    sets = ALL_SETS
    lines = []
    for metric, title in (("auroc", "AUROC (OOD = positive, higher score = more OOD)"), ("fpr95", "FPR at 95% TPR")):
        lines += [f"### {title}", "", "| model | score | " + " | ".join(sets) + " |", "|---|---|" + "---|" * len(sets)]
        labels: dict[tuple[str, str], dict[str, float]] = {}
        for name, result in results.items():
            model = "vae" if name.startswith("vae") else name
            for row in result["table"]["rows"]:
                labels.setdefault((model, score_label(row)), {})[row["ood"]] = row[metric]
        for (model, label), cells in labels.items():
            row_cells = [f"{cells[s]:.3f}" if s in cells else "-" for s in sets]
            lines.append(f"| {model} | {label} | " + " | ".join(row_cells) + " |")
        lines.append("")
    lines += [
        "### Likelihood per set: mean NLL in bits/dim; in brackets, the share of test images less likely "
        "than the set's most likely image",
        "",
        "| model | " + " | ".join(["test", *sets]) + " |",
        "|---|" + "---|" * (len(sets) + 1),
    ]
    for name, result in results.items():
        lik = result["table"]["likelihood"]
        if not lik:
            continue
        cells = [
            f"{lik[s]['nll_bpd']:.2f} ({lik[s]['test_less_likely_than_best']:.3f})" if s in lik else "-"
            for s in ["test", *sets]
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### CPU seconds",
        "",
        "| run | train | score (incl. background training) | of which background training |",
        "|---|---|---|---|",
    ]
    for name, result in results.items():
        cpu = result["table"]["cpu_s"]
        lines.append(
            f"| {name} | {result['train_cpu_s']} | {result['score_cpu_s']} | {cpu.get('background_training', 0)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
