"""Discriminative against generative classification when pixels are missing (issue 19).

    python benchmarks/bench_classify.py                                   # digits: trains a conditional VAE
    python benchmarks/bench_classify.py --vae RUN --diffusion RUN         # (b) may also inpaint with dps / repaint
    python benchmarks/bench_classify.py --dataset mnist-sample --vae-override epochs=30 --n 200 --k 20

Test accuracy against the fraction of missing pixels (0, 25, 50, 75, 90% at random per image;
a centre box; the left half) for three classifiers of the same images:

(a) the dataset classifier (``genimg.evaluate.classifier``, trained on complete training images,
    cached), the missing pixels set to the training mean;
(b) the same classifier on the images inpainted by the best recovery method, chosen by MSE on
    64 val images with 50% missing among those the given models can run (the VAE's ``latent``
    optimisation, ``biharmonic``, and ``dps`` / ``repaint`` with ``--diffusion``);
(c) the generative classifier, Bayes' rule with a class-conditional VAE whose likelihood leaves
    the missing pixels out exactly (``genimg.tasks.classify``; IW bound, ``--k`` samples).

Each setting is run with ``--seeds`` mask seeds (the box and the half are the same region for
every seed; there the seeds only change the estimators' and the inpainters' random draws); the
table gives mean +- std over seeds, and the plot (``--plot``, default
docs/figures/classify-<dataset>.png) the same with error bars. The conditional VAE is
``genimg.config.config_for("vae", ["dataset=...", "conditional=true", *--vae-override])``
trained into --out when --vae is not given (a finished one there is reused).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import genimg  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

# isort: split
import torch

from genimg.config import config_for
from genimg.data.registry import load_split
from genimg.evaluate.evaluator import extractor_for
from genimg.plotting import save_figure
from genimg.runs import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.classify import (
    accuracy,
    classify_images,
    impute_missing,
    keep_mask,
    log_prior,
    mean_fill,
    missing_fraction,
    missing_rate_figure,
    missing_tag,
    reliability,
)
from genimg.tasks.recover import SolverOptions
from genimg.tasks.recover.run import available_methods
from genimg.train import train

SETTINGS = [0.0, 0.25, 0.5, 0.75, 0.9, "box", "half"]
REGIONS = {"box": "centre box", "half": "left half"}
NOT_INPAINTERS = ("identity", "sdedit")  # identity keeps the holes; SDEdit keeps no measurement
SELECTION_IMAGES = 64
NAMES = {
    "a": "(a) classifier, mean-filled",
    "b": "(b) classifier, inpainted by {method}",
    "c": "(c) Bayes, marginalised",
}


def ensure_vae(args: argparse.Namespace) -> tuple[Path, float]:
    """The conditional VAE's run directory, trained now (CPU seconds returned) when not given or finished."""
    if args.vae:
        return Path(args.vae), 0.0
    out = Path(args.out)
    name = f"cvae-{args.dataset}"
    path = out / name
    if RunDir(path).is_finished():
        print(f"reusing the finished run {path} (delete it to train with other overrides)", flush=True)
        return path, 0.0
    settings = [f"dataset={args.dataset}", "conditional=true", f"out={out}", f"run_name={name}"]
    settings += [f"threads={args.threads}", "progress=false", *args.vae_override]
    resume = path if (path / "checkpoints" / "last").exists() else None
    print(f"training a conditional VAE -> {path}", flush=True)
    cpu = time.process_time()
    train(config_for("vae", settings), resume=resume, quiet=True)
    return path, time.process_time() - cpu


def choose_inpainter(models: list, val: torch.Tensor, options: SolverOptions, given: str | None):
    """(method, model, selection rows): the lowest-MSE inpainter on val images with 50% missing."""
    candidates = [
        (name, model)
        for model in models
        for name in available_methods("inpaint", model)
        if name not in NOT_INPAINTERS and (given is None or name == given)
    ]
    if not candidates:
        raise SystemExit(f"no inpainting method '{given}' for the given models")
    keep = keep_mask(0.5, len(val), *val.shape[-2:], torch.Generator().manual_seed(0))
    rows = []
    for name, model in candidates:
        cpu = time.process_time()
        filled = impute_missing(model, val, keep, name, options=options)
        rows.append((float((filled - val).pow(2).mean()), name, model, time.process_time() - cpu))
    mse, name, model, _ = min(rows, key=lambda r: r[0])
    return name, model, [(n, f"{m:.4f}", f"{c:.1f}") for m, n, _, c in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits", help="digits (default) or mnist-sample")
    p.add_argument("--vae", help="run directory of a conditional VAE (trained if omitted)")
    p.add_argument("--vae-override", action="append", default=[], metavar="KEY=VALUE", help="for the VAE trained")
    p.add_argument("--diffusion", help="a diffusion run whose dps / repaint join the inpainters for (b)")
    p.add_argument("--inpaint", help="use this inpainting method for (b) instead of the best on val")
    p.add_argument("--out", default="runs/bench-classify", help="where the VAE is trained when not given")
    p.add_argument("--n", type=int, help="test images (a seeded random subset; default all)")
    p.add_argument("--k", type=int, default=100, help="(c): importance samples per image and class")
    p.add_argument("--seeds", type=int, default=3, help="mask seeds per setting")
    p.add_argument("--latent-steps", type=int, default=100, help="(b) latent: Adam steps (library default 300)")
    p.add_argument("--restarts", type=int, default=1, help="(b) latent: random starts (library default 4)")
    p.add_argument("--settings", default=",".join(map(str, SETTINGS)), help="missing settings, comma-separated")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--plot", help="figure path (default docs/figures/classify-<dataset>.png)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    settings = [s if s in REGIONS else float(s) for s in args.settings.split(",")]

    wall, cpu0 = time.perf_counter(), time.process_time()
    vae_path, train_cpu = ensure_vae(args)
    vae = load_model(vae_path)
    config = RunDir.open(vae_path).config()
    test, train_split = load_split(config.data, "test"), load_split(config.data, "train")
    val = load_split(config.data, "val").images[:SELECTION_IMAGES]
    pick = torch.arange(len(test))
    if args.n and args.n < len(test):
        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.n].sort().values
    images, labels = test.images[pick], test.labels[pick]
    prior = log_prior(train_split.labels, vae.spec.num_classes)
    mean_image = train_split.images.mean(0)
    classifier = extractor_for(config.data, "classifier", progress=False)

    solver = SolverOptions(latent_steps=args.latent_steps, restarts=args.restarts)
    models = [vae] + ([load_model(args.diffusion)] if args.diffusion else [])
    method, inpainter, selection = choose_inpainter(models, val, solver, args.inpaint)
    print(f"inpainter for (b): {method} (val MSE at 50% missing: {selection})", flush=True)

    results: dict[str, dict] = {}
    cpu = {"a": 0.0, "b": 0.0, "c": 0.0}
    _, height, width = vae.spec.image_shape
    for setting in settings:
        row = {"a": [], "b": [], "c": [], "ece_a": [], "ece_c": [], "fraction": 0.0}
        for seed in range(args.seeds):
            keep = keep_mask(setting or None, len(images), height, width, torch.Generator().manual_seed(seed))
            row["fraction"] = missing_fraction(keep)
            t = time.process_time()
            probabilities = classifier.probabilities(mean_fill(images, keep, mean_image))
            row["a"].append(accuracy(probabilities.argmax(1), labels))
            row["ece_a"].append(reliability(probabilities, labels).ece)
            cpu["a"] += time.process_time() - t
            t = time.process_time()
            completed = (
                images if keep is None else impute_missing(inpainter, images, keep, method, options=solver, seed=seed)
            )
            row["b"].append(accuracy(classifier.probabilities(completed).argmax(1), labels))
            cpu["b"] += time.process_time() - t
            t = time.process_time()
            bayes = classify_images(vae, images, prior, keep=keep, k=args.k, seed=seed)
            row["c"].append(accuracy(bayes.predictions, labels))
            row["ece_c"].append(reliability(bayes.posterior, labels).ece)
            cpu["c"] += time.process_time() - t
        results[missing_tag(setting or None)] = row
        print(
            f"{missing_tag(setting or None)}: " + ", ".join(f"{k} {statistics.mean(row[k]):.3f}" for k in "abc"),
            flush=True,
        )

    report = format_report(results, args, method, len(images), vae_path, selection)
    cost = {k: round(v, 1) for k, v in cpu.items()}
    cost.update(
        train=round(train_cpu, 1), total=round(time.process_time() - cpu0, 1), wall=round(time.perf_counter() - wall, 1)
    )
    report += f"\nCPU seconds: {cost}\n"
    print(report)
    names = {key: NAMES[key].format(method=method) for key in NAMES}
    curves = {
        names[key]: {tag: (row["fraction"], statistics.mean(row[key]), _std(row[key])) for tag, row in results.items()}
        for key in "abc"
    }
    figure = missing_rate_figure(
        curves,
        f"{args.dataset} test ({len(images)} images): accuracy with missing pixels, {args.seeds} mask seeds; "
        f"(c) IW bound, k = {args.k}",
        REGIONS,
    )
    plot = Path(args.plot or f"docs/figures/classify-{args.dataset}.png")
    save_figure(figure, plot, dpi=110)
    print(f"wrote {plot}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "cpu_s": cost, "markdown": report}, indent=2) + "\n")


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _cell(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {_std(values):.3f}"


def format_report(results: dict, args: argparse.Namespace, method: str, n: int, vae_path: Path, selection) -> str:
    lines = [
        f"### {args.dataset} test, {n} images, {args.seeds} mask seeds: accuracy (mean ± std over seeds)",
        "",
        f"VAE: {vae_path}; (c) IW bound with k = {args.k}; (b) inpainter {method}, chosen on val "
        f"(method, MSE, CPU-s: {selection})",
        "",
        "| missing | pixels missing | (a) classifier, mean-filled | (b) classifier, inpainted "
        "| (c) Bayes, marginalised | ECE (a) | ECE (c) |",
        "|---|---|---|---|---|---|---|",
    ]
    for tag, row in results.items():
        cells = [_cell(row[k]) for k in ("a", "b", "c", "ece_a", "ece_c")]
        lines.append(f"| {tag} | {100 * row['fraction']:.0f}% | " + " | ".join(cells) + " |")
    lines += ["", *verdicts(results)]
    return "\n".join(lines) + "\n"


def verdicts(results: dict) -> list[str]:
    """Who wins where, in words: the best classifier per setting, and where (c) overtakes (a)."""
    out = []
    for tag, row in results.items():
        means = {k: statistics.mean(row[k]) for k in "abc"}
        best = max(means, key=means.get)
        out.append(f"- {tag}: best ({best}) {means[best]:.3f}; (c) - (a) = {means['c'] - means['a']:+.3f}")
    random_rates = [(row["fraction"], tag) for tag, row in results.items() if tag.startswith(("random", "complete"))]
    overtakes = [
        tag
        for _, tag in sorted(random_rates)
        if statistics.mean(results[tag]["c"]) > statistics.mean(results[tag]["a"])
    ]
    if "complete" in results:
        row = results["complete"]
        a, c = statistics.mean(row["a"]), statistics.mean(row["c"])
        who = "the discriminative classifier wins" if a > c else "the Bayes classifier wins"
        out.append(f"- with no pixels missing {who}: (a) {a:.3f} against (c) {c:.3f}")
    out.append(
        f"- (c) overtakes (a) first at: {overtakes[0]}" if overtakes else "- (c) never overtakes (a) at random rates"
    )
    return out


if __name__ == "__main__":
    main()
