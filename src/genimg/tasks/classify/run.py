"""``classify_run``: classify a run's split by Bayes' rule, optionally with pixels missing, and
write RUN/classify/<setting>/ (``outputs.py``; <setting> is complete, random-50, box or half)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from genimg.data.registry import load_split
from genimg.errors import UserError
from genimg.evaluate.evaluator import extractor_for
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.classify.bayes import bayes_refusal, classify_images, log_prior
from genimg.tasks.classify.calibration import confusion_matrix, reliability, summary_scores
from genimg.tasks.classify.fill import impute_missing, mean_fill, missing_strategy, strategy_description
from genimg.tasks.classify.missing import keep_mask, missing_fraction, missing_tag
from genimg.tasks.classify.options import ClassifyOptions
from genimg.tasks.classify.outputs import format_markdown, predictions_csv, write_outputs
from genimg.tasks.recover.options import SolverOptions

BOUNDS = {  # what each family's bound name means, for the summary (bound names, not families)
    "iw": "importance-weighted bound on log p(x | y) (Burda et al. 2016), k = {k} samples per image and class",
    "elbo": "evidence lower bound on log p(x | y)",
    "vlb": "variational bound on log p(x | y) (Ho et al. 2020), all T terms",
    "vlb_estimate": "unbiased stratified estimate of the variational bound from one term per {t_stride} "
    "timesteps (an estimate of the bound, not itself a bound)",
}


def subset(n_total: int, n: int | None, generator: torch.Generator) -> torch.Tensor:
    """Indices of at most n images: a seeded random subset in ascending order, or all of them."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=generator)[:n].sort().values


def classify_run(
    run_path: str | Path,
    options: ClassifyOptions | None = None,
    *,
    out: str | Path | None = None,
    ema: bool = True,
    log=print,
) -> dict[str, Any]:
    """Classify the run's ``options.split`` by Bayes' rule, write RUN/classify/<setting>/ (or
    ``out``), return summary.json's content. Options and the model's capabilities are checked
    before any data is loaded."""
    options = options or ClassifyOptions()
    missing = options.check()
    run = RunDir.open(run_path)
    config = run.config()
    model = load_model(run.path, ema=ema)
    reason = bayes_refusal(model)
    if reason is not None:
        raise UserError(reason)
    strategy = missing_strategy(model, options.impute) if missing is not None else None

    cpu0 = time.process_time()
    data = load_split(config.data, options.split, "cpu")
    train = load_split(config.data, "train", "cpu")
    generator = torch.Generator().manual_seed(options.seed)  # the subset, then the masks
    indices = subset(len(data), options.n, generator)
    images, labels = data.images[indices], data.labels[indices]
    _, height, width = model.spec.image_shape
    keep = keep_mask(missing, len(images), height, width, generator)

    scored, model_keep = images, None
    if strategy == "impute":
        assert keep is not None  # a strategy is chosen only when pixels are missing
        scored = impute_missing(
            model,
            images,
            keep,
            options.impute,
            options=SolverOptions(steps=options.impute_steps),
            seed=options.seed,
            batch_size=options.batch_size,
        )
    elif strategy == "marginalise":
        model_keep = keep
    prior = log_prior(train.labels, model.spec.num_classes)
    result = classify_images(
        model,
        scored,
        prior,
        keep=model_keep,
        k=options.k,
        t_stride=options.t_stride,
        fill_steps=options.fill_steps,
        batch_size=options.batch_size,
        seed=options.seed,
        progress=options.progress,
    )
    cpu = time.process_time() - cpu0
    posterior = result.posterior
    diagram = reliability(posterior, labels, options.bins)
    baseline: dict[str, Any] | None = None  # the dataset classifier's scores, with its test accuracy
    if options.baseline:
        classifier = extractor_for(config.data, "classifier", progress=options.progress)
        filled = mean_fill(images, keep, train.in_memory_images.mean(0))
        baseline = {
            **summary_scores(classifier.probabilities(filled), labels, options.bins),
            "classifier_test_accuracy": classifier.test_accuracy,
        }

    summary = {
        "run": str(run.path),
        "family": config.family,
        "dataset": config.data.dataset,
        "split": options.split,
        "images": len(images),
        "classes": model.spec.num_classes,
        "prior": prior.exp().tolist(),
        "missing": {
            "tag": missing_tag(missing),
            "setting": missing,
            "fraction": missing_fraction(keep),
            "strategy": strategy_description(strategy, options.impute) if strategy else None,
        },
        "bound": {
            "name": result.bound,
            "description": BOUNDS.get(result.bound, result.bound).format(k=options.k, t_stride=options.t_stride),
        },
        "generative": summary_scores(posterior, labels, options.bins),
        "baseline": baseline,
        "reliability": diagram.to_dict(),
        "mean_log_evidence": float(result.log_evidence.mean()),
        "settings": {**vars(options), "ema": ema},
        "cpu_s": {"total": round(cpu, 2), "per_image": cpu / max(1, len(images))},
    }
    out_dir = Path(out) if out else run.path / "classify" / missing_tag(missing)
    class_names = data.class_names or [str(c) for c in range(model.spec.num_classes)]
    confusion = confusion_matrix(labels, result.predictions, model.spec.num_classes)
    summary["confusion"] = confusion.tolist()
    write_outputs(out_dir, summary, confusion, diagram, class_names, predictions_csv(indices, labels, result))
    log(format_markdown(summary))
    log(f"wrote {out_dir}/summary.json, table.md, predictions.csv, confusion.png, reliability.png")
    return summary
