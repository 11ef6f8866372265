"""Recovery on the digits test split: generative priors against classical baselines.

    python benchmarks/bench_recovery.py [--vae RUN] [--diffusion RUN] [--n 447] [--seed 0]
                                        [--threads 1] [--json results.json]

Two problems, the acceptance targets of the inverse-problems task:
- inpainting with 50% of the pixels removed at random (a fresh mask per image, no noise);
- denoising with Gaussian noise of sigma 0.3 (in [0, 1] units, measurements not clipped).

Methods: the classical baselines (identity, TV, non-local means, biharmonic), latent
optimisation with the default VAE, and DPS, RePaint and SDEdit with the default diffusion
model, each with the library's defaults (chosen on the validation split); on denoising also
the mean of 8 SDEdit samples, an estimate of the posterior mean (the minimum-MSE answer). The table gives
N vs O (the degraded image) and R vs O per method, as mean +- std over the n images, and
the CPU seconds each method took. The goal: the best generative method beats the best
classical one by at least 1 dB PSNR on both problems.

Without --vae / --diffusion the default models are trained first (``genimg train vae`` and
``genimg train diffusion``, defaults unchanged) into ``--runs``; a finished run there is reused.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import asdict
from pathlib import Path

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch

from genimg.data import load_dataset
from genimg.io import write_json
from genimg.tasks.recover import METRIC_NAMES, SolverOptions, TaskSpec, recover
from genimg.train import apply_overrides, default_config, load_model, train

PROBLEMS = {
    "inpaint (50% random pixels)": TaskSpec("inpaint", mask="random", rate=0.5),
    "denoise (sigma 0.3)": TaskSpec("denoise", sigma=0.3),
}
CLASSICAL = {"inpaint": ["identity", "biharmonic"], "denoise": ["identity", "tv", "nlm"]}
# (row label, model, method, options beyond the defaults)
GENERATIVE = {
    "inpaint": [
        ("latent", "vae", "latent", {}),
        ("dps", "diffusion", "dps", {}),
        ("repaint", "diffusion", "repaint", {}),
        ("sdedit", "diffusion", "sdedit", {}),
    ],
    "denoise": [
        ("latent", "vae", "latent", {}),
        ("dps", "diffusion", "dps", {}),
        ("sdedit", "diffusion", "sdedit", {}),
        ("sdedit, mean of 8", "diffusion", "sdedit", {"posterior_samples": 8}),
    ],
}


def default_run(family: str, runs: Path, threads: int) -> Path:
    path = runs / family
    if (path / "summary.json").exists():
        return path
    overrides = [f"out={runs}", f"run_name={family}", "progress=false", f"threads={threads}"]
    train(apply_overrides(default_config(family), overrides))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", help="a trained VAE run (default: train the default one into --runs)")
    parser.add_argument("--diffusion", help="a trained diffusion run (default: train the default one into --runs)")
    parser.add_argument("--runs", default="runs/bench-recovery", help="where default models are trained")
    parser.add_argument("--n", type=int, default=447, help="test images (the digits test split has 447)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    vae_path = Path(args.vae) if args.vae else default_run("vae", Path(args.runs), args.threads)
    diffusion_path = Path(args.diffusion) if args.diffusion else default_run("diffusion", Path(args.runs), args.threads)
    models = {"vae": load_model(vae_path), "diffusion": load_model(diffusion_path)}
    originals = load_dataset("digits", "test").images[: args.n]

    results: dict = {
        "n": int(originals.shape[0]),
        "seed": args.seed,
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "vae": str(vae_path),
        "diffusion": str(diffusion_path),
        "defaults": asdict(SolverOptions()),
        "problems": {},
    }
    lines = []
    for title, spec in PROBLEMS.items():
        task = spec.task
        # Classical methods need no model; the same seed gives every method the same damage.
        merged = recover(None, originals, spec, CLASSICAL[task], seed=args.seed)
        for label, model, method, extra in GENERATIVE[task]:
            part = recover(models[model], originals, spec, [method], SolverOptions(**extra), args.seed)
            assert torch.equal(part.observed, merged.observed)
            merged.methods[label] = part.methods[method]
        table = merged.to_dict()
        results["problems"][title] = table
        best_g, best_c = table["best"]["generative"], table["best"]["classical"]
        lines.append(f"\n### {title}, digits test split, n = {merged.originals.shape[0]}\n")
        lines.append("| method | model | " + " | ".join(m.upper() for m in METRIC_NAMES) + " | CPU s |")
        lines.append("|---|---|" + "---|" * (len(METRIC_NAMES) + 1))

        def cells(scores: dict) -> str:
            return " | ".join(
                f"{scores[m]['mean']:.2f} ± {scores[m]['std']:.2f}"
                if m == "psnr"
                else f"{scores[m]['mean']:.4f} ± {scores[m]['std']:.4f}"
                for m in METRIC_NAMES
            )

        lines.append(f"| degraded (N vs O) | | {cells(merged.degraded)} | |")
        for name, r in merged.methods.items():
            model = "" if r.kind == "classical" else ("VAE" if r.name == "latent" else "diffusion")
            lines.append(f"| {name} | {model} | {cells(r.recovered)} | {r.cpu_s:.1f} |")
        gain = table["best"]["psnr_gain_db"]
        verdict = "meets" if gain >= 1.0 else "misses"
        lines.append(
            f"\nbest generative: {best_g['method']} {best_g['psnr']:.2f} dB; best classical: "
            f"{best_c['method']} {best_c['psnr']:.2f} dB; gain {gain:+.2f} dB ({verdict} the 1 dB goal)"
        )
        print("\n".join(lines[-(len(merged.methods) + 6) :]), flush=True)
    if args.json:
        write_json(args.json, results)
    print("\n".join(lines))


if __name__ == "__main__":
    start = time.process_time()
    main()
    print(f"\ntotal CPU time {time.process_time() - start:.0f} s")
