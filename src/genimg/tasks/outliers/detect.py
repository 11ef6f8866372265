"""``detect_outliers``: score a run's test split and the OOD sets, measure the separation, and
write RUN/outliers/.

Output (each file written atomically): table.json (everything, with settings and CPU timings;
written last, so its presence means the directory is complete), table.csv (one row per score
and set), table.md (AUROC / AUPR / FPR@95 tables and mean NLLs), hist_<score>.png and
sets.png. Per-image likelihoods are kept in RUN/outliers/cache/ (``likelihood.py``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genimg.data.registry import load_split
from genimg.io import write_json, write_text
from genimg.plotting import save_figure
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.outliers.background import background_config, background_dir, background_model
from genimg.tasks.outliers.figures import HISTOGRAM_DPI, histogram_figure, save_examples
from genimg.tasks.outliers.likelihood import cached_negative_log_likelihood
from genimg.tasks.outliers.ood_sets import OODSet, at_most, make_ood_set, parse_set_names
from genimg.tasks.outliers.options import LIKELIHOOD_SCORES, SCORES, OutlierOptions, resolve_scores
from genimg.tasks.outliers.scored_set import ScoredSet
from genimg.tasks.outliers.scores import complexity_bits, discriminator_scores
from genimg.tasks.outliers.summary import detection_rows, likelihood_summary
from genimg.tasks.outliers.tables import format_csv, format_markdown
from genimg.train.trainer import validate_config


def detect_outliers(
    run_path: str | Path,
    options: OutlierOptions | None = None,
    *,
    out: str | Path | None = None,
    ema: bool = True,
    log=print,
) -> dict[str, Any]:
    """Score the run's test split and the OOD sets, write RUN/outliers/ (or ``out``), return table.json's content."""
    options = options or OutlierOptions()
    options.check()
    run = RunDir.open(run_path)
    out_dir = Path(out) if out else run.path / "outliers"
    config = run.config()
    set_names = parse_set_names(options.ood)
    model = load_model(run.path, ema=ema)
    scores = resolve_scores(options.scores, model)
    if "ratio" in scores:  # the background model's overrides, checked before any image is scored
        validate_config(
            background_config(
                config, background_dir(run.path, options.mu, options.seed), options.mu, options.seed, options.background
            )
        )
    cpu0 = time.process_time()
    timings: dict[str, float] = {}
    # One generator, drawn from in a fixed order (test subset, OOD sets, val subset), makes the sets reproducible.
    generator = torch.Generator().manual_seed(options.seed)

    test = load_split(config.data, "test", "cpu")
    test_images = at_most(test.in_memory_images, options.n, generator)
    data_options = {
        "dataset": config.data.dataset,
        "classes": config.data.classes,
        "root": config.data.root,
        "image_size": config.data.image_size,
        "binarize": config.data.binarize,
    }
    ood_sets: list[OODSet] = [
        make_ood_set(name, model.spec, test, options.n or len(test), generator, data_options=data_options)
        for name in set_names
    ]
    skipped = {s.name: s.skipped for s in ood_sets if s.images is None}
    for name, why in skipped.items():
        log(f"skipping OOD set '{name}': {why}")
    ood_sets = [s for s in ood_sets if s.images is not None]
    ood_names = [s.name for s in ood_sets]

    scored = [ScoredSet("test", test_images)] + [ScoredSet(s.name, s.images) for s in ood_sets if s.images is not None]
    per_image = list(scored)  # the sets whose images are scored one by one; val only gives typicality its reference
    if "typicality" in scores:
        scored.append(
            ScoredSet("val", at_most(load_split(config.data, "val", "cpu").in_memory_images, options.n, generator))
        )
    needs_nll = any(s in LIKELIHOOD_SCORES for s in scores)
    bound_name = None
    info: dict[str, Any] = {}
    likelihood = {"k": options.k, "t_stride": options.t_stride, "batch_size": options.batch_size, "seed": options.seed}
    cache = out_dir / "cache"

    if needs_nll:
        with _cpu_timer(timings, "nll"):
            for item in _each(scored, "likelihood", options.progress):
                item.nll, bound_name = cached_negative_log_likelihood(model, item.images, cache, **likelihood)
    if "ratio" in scores:
        with _cpu_timer(timings, "background_training"):
            background = background_model(
                run.path, options.mu, options.seed, options.background, progress=options.progress, log=log
            )
        with _cpu_timer(timings, "nll_background"):
            for item in _each(per_image, "background likelihood", options.progress):
                item.nll_background, _ = cached_negative_log_likelihood(background, item.images, cache, **likelihood)
        info["background_run"] = str(background_dir(run.path, options.mu, options.seed))
    if "complexity" in scores:
        with _cpu_timer(timings, "png"):
            for item in per_image:
                item.bits = complexity_bits(item.images, model.spec.levels)
    if "disc" in scores:
        with _cpu_timer(timings, "disc"):
            for item in per_image:
                item.disc = discriminator_scores(model, item.images)

    by_name = {item.name: item for item in scored}
    rows = detection_rows(scores, by_name, ood_names, options.batch_sizes, options.seed)
    timings["total"] = time.process_time() - cpu0
    table = {
        "run": str(run.path),
        "family": config.family,
        "dataset": config.data.dataset,
        "trained_classes": config.data.classes,
        "in_distribution": f"test split ({len(test_images)} images)",
        "positive_class": "OOD",
        "orientation": "higher score = more out-of-distribution",
        "scores": {s: SCORES[s] for s in scores},
        "bound": bound_name,
        "ood_sets": {
            s.name: {"description": s.description, "images": int(s.images.shape[0])}
            for s in ood_sets
            if s.images is not None
        },
        "skipped": skipped,
        "likelihood": likelihood_summary(by_name, model.spec) if needs_nll else {},
        "settings": {**asdict(options), "ema": ema, "levels": model.spec.levels},
        "rows": rows,
        "cpu_s": {k: round(v, 2) for k, v in timings.items()},
        **info,
    }
    write_outputs(table, by_name, scores, ood_names, out_dir, options)
    log(format_markdown(table))
    log(f"wrote {out_dir}/table.json, table.csv, table.md, hist_<score>.png and sets.png")
    return table


def write_outputs(
    table: dict[str, Any],
    by_name: dict[str, ScoredSet],
    scores: list[str],
    set_names: list[str],
    out_dir: Path,
    options: OutlierOptions,
) -> None:
    """The histograms and sets.png, then table.md, table.csv and, last, table.json."""
    for score in scores:
        figure = histogram_figure(score, by_name, set_names, table["rows"], options.batch_sizes, options.seed)
        save_figure(figure, out_dir / f"hist_{score}.png", dpi=HISTOGRAM_DPI)
    save_examples(by_name, set_names, out_dir / "sets.png")
    for stale in set(SCORES) - set(scores):  # histograms of an earlier call with other scores would mislead
        (out_dir / f"hist_{stale}.png").unlink(missing_ok=True)
    write_text(out_dir / "table.md", format_markdown(table))
    write_text(out_dir / "table.csv", format_csv(table["rows"]))
    write_json(out_dir / "table.json", table)  # last: its presence means the directory is complete


@contextlib.contextmanager
def _cpu_timer(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's CPU seconds to ``timings[name]``."""
    start = time.process_time()
    yield
    timings[name] = timings.get(name, 0.0) + time.process_time() - start


def _each(items: list[ScoredSet], desc: str, progress: bool) -> Iterator[ScoredSet]:
    """The items, under a progress bar that names the set being scored."""
    bar = tqdm(items, desc=desc, leave=False, disable=not progress)
    for item in bar:
        bar.set_postfix_str(item.name)
        yield item
