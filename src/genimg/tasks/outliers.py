"""Outlier (out-of-distribution) detection with a generative model's likelihood, and its known fixes.

Given a run, score the in-distribution test split and several OOD sets (``ood_sets.py``),
then measure how well each score separates them. Every score is oriented so that
**higher = more out-of-distribution**, and the **positive class is OOD**:

    nll         -log p(x), nats per image, from the family's bound: the VAE's importance-weighted
                bound with ``k`` samples (default 100: 10x cheaper than k = 1000, within about
                half a nat of it on digits), the diffusion model's variational bound over all
                T terms (``t_stride`` = 1, the default: ~1.3 s of one CPU core per 8x8 image).
                ``t_stride`` > 1 uses the family's stratified estimate (one random term per
                block of t_stride timesteps): unbiased, but on digits its per-image noise is
                ~160 nats at t_stride = 10 against gaps of tens of nats between sets, because
                the first few terms dominate the sum; use it only for a quick look.
    ratio       Ren et al. 2019's likelihood ratio, negated: log p_bg(x) - log p(x), where the
                background model is the same family and config trained on the training images
                with a fraction ``mu`` of pixels replaced by grey levels drawn uniformly. The
                background model absorbs what makes an image cheap to describe in general
                (smoothness, flat regions), the ratio keeps what is specific to the data. It
                is trained on first use and cached as a run directory in
                RUN/outliers/background/mu<mu>-seed<seed>/ (interrupted training resumes).
    complexity  Serrà et al. 2020's input-complexity-corrected score: -log2 p(x) - L(x), with
                L(x) the length in bits of x saved as a PNG (Pillow, optimize=True) at native
                resolution, pixels stored as grey-level indices 0..levels-1 (8-bit values for
                continuous data). The PNG container adds the same ~540 bits to every image of
                one shape, which shifts S by a constant and changes no ranking.
    typicality  Nalisnick et al. 2019b's typicality test on batches of M images (default 2, 5 and
                10): |mean NLL of the batch - mean NLL of the val split|. It scores batches, not
                images, so its rows are batch-level (disjoint random batches of the test split
                against disjoint batches of the OOD set).
    disc        -D(x), the negated discriminator logit of a GAN: not a likelihood, shown for
                comparison (the discriminator was trained to tell real from generated, not
                in- from out-of-distribution).

Metrics (scikit-learn): AUROC (``roc_auc_score``), AUPR with OOD as the positive class
(``average_precision_score``), and FPR at 95% TPR: the smallest false-positive rate (test
images flagged) at which at least 95% of the OOD images are flagged (from ``roc_curve``).

Output, in RUN/outliers/ (written atomically): table.json (everything, with settings and CPU
timings), table.csv (one row per score and set), table.md (AUROC / AUPR / FPR@95 tables and
mean NLLs), hist_<score>.png (in- vs out-of-distribution histograms, one panel per OOD set) and
sets.png (a row of test images, then a row of each OOD set). Per-image likelihoods are kept in
RUN/outliers/cache/, keyed by the weights, the images and the estimator's options, so asking
for another score later does not recompute them.
``genimg outliers`` is the command line.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from genimg.config.run_config import apply_overrides
from genimg.data.perturbed import perturbed_dataset_name
from genimg.errors import UserError
from genimg.images import save_grid
from genimg.io import atomic_path, write_json, write_text
from genimg.models.base import GenerativeModel
from genimg.rng import fixed_seed
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.ood_sets import BUILTIN_SETS, OODSet, make_ood_set, parse_set_names, valid_set_names
from genimg.train.trainer import load_splits, train

SCORES = {
    "nll": "negative log-likelihood bound, nats per image",
    "ratio": "likelihood ratio against a background model on perturbed images (Ren et al. 2019), log p_bg - log p",
    "complexity": "input-complexity-corrected score (Serra et al. 2020), -log2 p - PNG bits",
    "typicality": "typicality test on batches of M (Nalisnick et al. 2019b), |mean NLL - mean val NLL|",
    "disc": "negated discriminator logit (GAN; not a likelihood)",
}
LIKELIHOOD_SCORES = ("nll", "ratio", "complexity", "typicality")
TPR_TARGET = 0.95
PANELS_PER_ROW = 4  # histogram panels per row in hist_<score>.png
EXAMPLES_PER_SET = 16  # images per row of sets.png


@dataclass
class OutlierOptions:
    ood: list[str] = field(default_factory=lambda: list(BUILTIN_SETS))  # set names (see ood_sets.py)
    scores: list[str] | str | None = None  # names or "nll,ratio"; None: every score the model's family supports
    n: int | None = None  # at most this many images per set: test, val (typicality's reference), each OOD set
    seed: int = 0  # OOD sets, subsets, batches, and the likelihood estimators' noise
    k: int = 100  # VAE: importance samples for the bound
    t_stride: int = 1  # diffusion: 1 = the exact bound; > 1 = one random term per block of this many timesteps (noisy)
    mu: float = 0.15  # ratio: fraction of pixels perturbed in the background model's training data
    batch_sizes: tuple[int, ...] = (2, 5, 10)  # typicality: images per batch (M)
    background: list[str] = field(default_factory=list)  # ratio: config overrides for the background model
    batch_size: int = 100  # images per likelihood call
    progress: bool = True

    def check(self) -> None:
        if self.n is not None and self.n < 2:
            raise UserError(f"--n must be at least 2 (images per set), got {self.n}")
        if self.k < 1:
            raise UserError(f"--k (importance samples) must be at least 1, got {self.k}")
        if self.t_stride < 1:
            raise UserError(f"--t-stride must be at least 1 (1 = the exact diffusion bound), got {self.t_stride}")
        if not 0 < self.mu < 1:
            raise UserError(f"--mu (fraction of perturbed pixels) must lie in (0, 1), got {self.mu}; Ren et al. use 0.1-0.2")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UserError(f"--batch-sizes must be positive integers (e.g. 2,5,10), got {list(self.batch_sizes)}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {self.batch_size}")


# ---------------------------------------------------------------------------- metrics


def fpr_at_tpr(labels: np.ndarray, scores: np.ndarray, tpr_target: float = TPR_TARGET) -> float:
    """The smallest false-positive rate among thresholds that reach ``tpr_target`` (positives = 1)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    return float(fpr[np.searchsorted(tpr, tpr_target, side="left")])


def detection_metrics(in_scores: np.ndarray | torch.Tensor, out_scores: np.ndarray | torch.Tensor) -> dict[str, float]:
    """AUROC, AUPR and FPR@95%TPR with OOD as the positive class and higher score = more OOD."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    in_scores, out_scores = (np.asarray(torch.as_tensor(s).double().cpu()) for s in (in_scores, out_scores))
    if len(in_scores) == 0 or len(out_scores) == 0:
        raise UserError("need at least one in-distribution and one OOD score; raise --n")
    labels = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])
    # An infinite NLL (an impossible pixel) is the most OOD of all; sklearn wants finite numbers.
    scores = np.nan_to_num(np.concatenate([in_scores, out_scores]), nan=np.nan, posinf=np.finfo(np.float64).max,
                           neginf=-np.finfo(np.float64).max)
    return {
        "auroc": float(roc_auc_score(labels, scores)),
        "aupr": float(average_precision_score(labels, scores)),
        "fpr95": fpr_at_tpr(labels, scores),
    }


# ---------------------------------------------------------------------------- scores


def png_bits(image: torch.Tensor, levels: int | None) -> int:
    """Length in bits of one CHW image in [0, 1] saved as PNG (Pillow, optimize=True): pixels
    stored as grey-level indices 0..levels-1 for discrete data, as 8-bit values otherwise."""
    from PIL import Image

    scale = (levels - 1) if levels is not None and levels <= 256 else 255
    array = torch.round(image.detach().cpu().clamp(0, 1) * scale).to(torch.uint8).numpy()
    pil = Image.fromarray(array[0], mode="L") if array.shape[0] == 1 else Image.fromarray(array.transpose(1, 2, 0), mode="RGB")
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", optimize=True)
    return 8 * len(buffer.getvalue())


def complexity_bits(images: torch.Tensor, levels: int | None) -> torch.Tensor:
    return torch.tensor([png_bits(image, levels) for image in images], dtype=torch.float64)


def complexity_score(nll_nats: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Serrà et al.'s S(x) = -log2 p(x) - L(x), both in bits."""
    return nll_nats.double() / math.log(2) - bits.double()


def likelihood_ratio_score(nll_model: torch.Tensor, nll_background: torch.Tensor) -> torch.Tensor:
    """-(log p(x) - log p_bg(x)) = NLL_model - NLL_background: higher = more OOD."""
    return nll_model.double() - nll_background.double()


def random_batches(values: torch.Tensor, m: int, generator: torch.Generator) -> torch.Tensor:
    """Shuffle ``values`` and cut them into disjoint batches of ``m`` (the remainder is dropped): (B, m)."""
    count = values.shape[0] // m
    order = torch.randperm(values.shape[0], generator=generator)[: count * m]
    return values[order].view(count, m)


def typicality_statistic(batch_nll: torch.Tensor, reference_mean: float) -> torch.Tensor:
    """|mean NLL of each batch (row) - the in-distribution mean NLL|: far from typical = OOD."""
    return (batch_nll.double().mean(1) - reference_mean).abs()


# ---------------------------------------------------------------------------- per-image likelihoods


def negative_log_likelihood(
    model: GenerativeModel, images: torch.Tensor, *, k: int = 100, t_stride: int = 1, batch_size: int = 100, seed: int = 0
) -> tuple[torch.Tensor, str]:
    """Per-image -log p(x) in nats (float64) from the tightest bound the family returns, and its name.

    The estimator's noise is seeded with ``seed``, so a model and its background model scoring
    the same images draw the same noise (common random numbers: their difference is less noisy)."""
    model.require("likelihood", "likelihood scores (use --score disc)")
    model.eval()
    values: list[torch.Tensor] = []
    bound_name = ""
    with fixed_seed(seed), torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            bounds = model.marginal_log_likelihood(images[start : start + batch_size].to(model.device), k=k, t_stride=t_stride)
            bound_name = model.primary_bound(bounds)
            values.append(-bounds[bound_name].double().cpu())
    return torch.cat(values), bound_name


def cached_negative_log_likelihood(model: GenerativeModel, images: torch.Tensor, cache_dir: Path,
                                   **options: Any) -> tuple[torch.Tensor, str]:
    """``negative_log_likelihood``, remembered in ``cache_dir`` under a fingerprint of the model's
    config, weights, the images and the options: the exact diffusion bound costs ~1.3 CPU-seconds
    per image, and asking for one more score, or re-running a benchmark, should not pay it again.
    The config counts because it can change the bound for the same weights (diffusion's snap_x0)."""
    from dataclasses import asdict, is_dataclass

    config = asdict(model.config) if is_dataclass(model.config) else repr(model.config)
    fingerprint = {"family": model.family, "config": config, **options}
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(_tensor_bytes(tensor))
    digest.update(_tensor_bytes(images))
    path = Path(cache_dir) / f"nll-{digest.hexdigest()[:32]}.pt"
    if path.is_file():
        try:
            saved = torch.load(path, weights_only=True)
            return saved["nll"], saved["bound"]
        except Exception:  # a damaged cache entry is recomputed, never trusted
            path.unlink(missing_ok=True)
    nll, bound = negative_log_likelihood(model, images, **options)
    with atomic_path(path) as tmp:
        torch.save({"nll": nll, "bound": bound}, tmp)
    return nll, bound


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().cpu().reshape(-1).contiguous()
    return bytes(str((tuple(tensor.shape), tensor.dtype)), "utf-8") + flat.view(torch.uint8).numpy().tobytes()


def discriminator_scores(model: GenerativeModel, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """-D(x) per image: the discriminator's "looks fake" direction, so higher = more OOD."""
    with torch.inference_mode():
        return torch.cat([-model.discriminator_score(images[s : s + batch_size].to(model.device)).double().cpu().flatten()
                          for s in range(0, images.shape[0], batch_size)])


# ---------------------------------------------------------------------------- the background model (Ren et al.)


def background_dir(run_path: str | Path, mu: float, seed: int) -> Path:
    return Path(run_path) / "outliers" / "background" / f"mu{mu:g}-seed{seed}"


def background_config(config, path: Path, mu: float, seed: int, overrides: list[str] | None = None):
    """The run's config with perturbed training data, written to ``path``. It is selected by val
    loss on perturbed data (FID against perturbed images would mean little) and skips the
    end-of-training likelihood (outlier scoring computes what it needs)."""
    base = {
        "data.dataset": perturbed_dataset_name(config.data.dataset, mu, seed),
        "train.out": str(path.parent),
        "train.run_name": path.name,
        "train.seed": config.train.seed + 1,  # a different initialisation from the model it is compared with
        "train.select_by": "val_loss",
        "train.fid_every": 0,
        "train.likelihood_at_end": False,
    }
    return apply_overrides(apply_overrides(config, base), list(overrides or []))


def background_model(run_path: str | Path, mu: float, seed: int, overrides: list[str] | None = None, *,
                     progress: bool = True, log=print) -> GenerativeModel:
    """The background model for the likelihood ratio: loaded from its cached run directory, or
    trained now (resumed if a previous training was interrupted)."""
    run = RunDir.open(run_path)
    path = background_dir(run.path, mu, seed)
    config = background_config(run.config(), path, mu, seed, overrides)
    cached = RunDir(path)
    if cached.config_file.exists():
        _check_same_config(cached.config(), config, path)
        if cached.is_finished():
            return load_model(path)
    resume = path if (path / "checkpoints" / "last").exists() else None
    config = apply_overrides(config, {"train.progress": progress and config.train.progress})
    log(f"{'resuming' if resume else 'training'} the background model for the likelihood ratio -> {path}")
    return train(config, resume=resume, run_dir=path, quiet=True).model


def _check_same_config(saved, wanted, path: Path) -> None:
    ignore = {("train", "progress"), ("train", "threads"), ("train", "device")}
    a, b = saved.to_dict(), wanted.to_dict()
    for section in ("data", "train", "model"):
        for key in b[section]:
            if (section, key) not in ignore and a[section].get(key) != b[section][key]:
                raise UserError(
                    f"the cached background model {path} was trained with {section}.{key}={a[section].get(key)!r}, "
                    f"not {b[section][key]!r}; delete that directory to train a new one, or drop the override"
                )


# ---------------------------------------------------------------------------- the whole task


def resolve_scores(names: list[str] | str | None, model: GenerativeModel) -> list[str]:
    """Requested score names, checked; None -> every score this family supports."""
    supported = [s for s in SCORES if (s == "disc" and model.has("discriminator"))
                 or (s in LIKELIHOOD_SCORES and model.has("likelihood"))]
    if names is None:
        if not supported:
            raise UserError(f"the {model.family} family has neither a likelihood nor a discriminator to score outliers with")
        return supported
    items = [s.strip() for s in names.split(",")] if isinstance(names, str) else list(names)
    items = [s for s in items if s]
    for name in items:
        if name not in SCORES:
            raise UserError(f"unknown score '{name}'; choose from {', '.join(SCORES)} (comma-separated)")
        if name not in supported:
            raise UserError(f"score '{name}' needs {'a discriminator' if name == 'disc' else 'a likelihood'}, which the "
                            f"{model.family} family lacks; for this run choose from {', '.join(supported) or 'nothing'}")
    if not items:
        raise UserError(f"no score given; choose from {', '.join(SCORES)} (comma-separated)")
    return list(dict.fromkeys(items))


@dataclass
class ScoredSet:
    """Per-image quantities of one image set (the test split, the val split or an OOD set)."""

    name: str
    images: torch.Tensor
    nll: torch.Tensor | None = None
    nll_background: torch.Tensor | None = None
    bits: torch.Tensor | None = None
    disc: torch.Tensor | None = None

    def score(self, name: str) -> torch.Tensor:
        if name == "nll":
            return self.nll
        if name == "ratio":
            return likelihood_ratio_score(self.nll, self.nll_background)
        if name == "complexity":
            return complexity_score(self.nll, self.bits)
        if name == "disc":
            return self.disc
        raise KeyError(name)


def _at_most(images: torch.Tensor, n: int | None, generator: torch.Generator) -> torch.Tensor:
    """All the images, or a random n of them."""
    if n is None or n >= images.shape[0]:
        return images
    return images[torch.randperm(images.shape[0], generator=generator)[:n]]


def detect_outliers(run_path: str | Path, options: OutlierOptions | None = None, *, out: str | Path | None = None,
                    ema: bool = True, log=print) -> dict[str, Any]:
    """Score the run's test split and the OOD sets, write RUN/outliers/ (or ``out``), return table.json's content."""
    options = options or OutlierOptions()
    options.check()
    run = RunDir.open(run_path)
    out_dir = Path(out) if out else run.path / "outliers"
    config = run.config()
    set_names = parse_set_names(options.ood)
    model = load_model(run.path, ema=ema)
    scores = resolve_scores(options.scores, model)
    cpu0 = time.process_time()
    timings: dict[str, float] = {}
    generator = torch.Generator().manual_seed(options.seed)

    splits = load_splits(config, torch.device("cpu"))
    test = splits["test"]
    test_images = _at_most(test.images, options.n, generator)
    data_options = {"dataset": config.data.dataset, "classes": config.data.classes, "root": config.data.root,
                    "image_size": config.data.image_size, "binarize": config.data.binarize}
    ood_sets: list[OODSet] = [make_ood_set(name, model.spec, test, options.n or len(test), generator, data_options=data_options)
                              for name in set_names]
    skipped = {s.name: s.skipped for s in ood_sets if s.images is None}
    for name, why in skipped.items():
        log(f"skipping OOD set '{name}': {why}")
    ood_sets = [s for s in ood_sets if s.images is not None]

    scored = [ScoredSet("test", test_images)] + [ScoredSet(s.name, s.images) for s in ood_sets]
    per_image = list(scored)  # the sets whose images are scored one by one; val only gives typicality its reference
    if "typicality" in scores:
        scored.append(ScoredSet("val", _at_most(splits["val"].images, options.n, generator)))
    needs_nll = any(s in LIKELIHOOD_SCORES for s in scores)
    bound_name = None
    info: dict[str, Any] = {}
    likelihood = {"k": options.k, "t_stride": options.t_stride, "batch_size": options.batch_size, "seed": options.seed}

    if needs_nll:
        with _cpu_timer(timings, "nll"):
            for item in _each(scored, "likelihood", options.progress):
                item.nll, bound_name = cached_negative_log_likelihood(model, item.images, out_dir / "cache", **likelihood)
    if "ratio" in scores:
        with _cpu_timer(timings, "background_training"):
            background = background_model(run.path, options.mu, options.seed, options.background, progress=options.progress, log=log)
        with _cpu_timer(timings, "nll_background"):
            for item in _each(per_image, "background likelihood", options.progress):
                item.nll_background, _ = cached_negative_log_likelihood(background, item.images, out_dir / "cache", **likelihood)
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
    rows = _rows(scores, by_name, [s.name for s in ood_sets], options)
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
        "ood_sets": {s.name: {"description": s.description, "images": int(s.images.shape[0])} for s in ood_sets},
        "skipped": skipped,
        "likelihood": _likelihood_summary(by_name, model.spec) if needs_nll else {},
        "settings": {**asdict(options), "ema": ema, "levels": model.spec.levels},
        "rows": rows,
        "cpu_s": {k: round(v, 2) for k, v in timings.items()},
        **info,
    }
    write_outputs(table, by_name, scores, [s.name for s in ood_sets], out_dir, options)
    log(format_markdown(table))
    log(f"wrote {out_dir}/table.json, table.csv, table.md, hist_<score>.png and sets.png")
    return table


@contextlib.contextmanager
def _cpu_timer(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.process_time()
    yield
    timings[name] = timings.get(name, 0.0) + time.process_time() - start


def _each(items: list[ScoredSet], desc: str, progress: bool) -> Iterator[ScoredSet]:
    bar = tqdm(items, desc=desc, leave=False, disable=not progress)
    for item in bar:
        bar.set_postfix_str(item.name)
        yield item


def _typicality_batches(by_name: dict[str, ScoredSet], set_name: str, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Typicality statistics of the test batches and of the OOD set's batches, for batches of m.
    The batches are a function of (seed, m, set) only, so every call draws the same ones."""
    reference = float(by_name["val"].nll.mean())
    generator = torch.Generator().manual_seed(seed * 7919 + m)
    inside = typicality_statistic(random_batches(by_name["test"].nll, m, generator), reference)
    generator = torch.Generator().manual_seed(seed * 7919 + m + zlib.crc32(set_name.encode()))
    outside = typicality_statistic(random_batches(by_name[set_name].nll, m, generator), reference)
    return inside, outside


def _rows(scores: list[str], by_name: dict[str, ScoredSet], set_names: list[str], options: OutlierOptions) -> list[dict[str, Any]]:
    rows = []
    test = by_name["test"]
    for score in scores:
        for set_name in set_names:
            if score == "typicality":
                for m in options.batch_sizes:
                    inside, outside = _typicality_batches(by_name, set_name, m, options.seed)
                    if len(inside) == 0 or len(outside) == 0:
                        continue  # fewer images than one batch
                    rows.append(_row(score, set_name, inside, outside, batch_size=m))
            else:
                rows.append(_row(score, set_name, test.score(score), by_name[set_name].score(score)))
    return rows


def _row(score: str, set_name: str, inside: torch.Tensor, outside: torch.Tensor, batch_size: int | None = None) -> dict[str, Any]:
    return {
        "score": score,
        "batch_size": batch_size,
        "ood": set_name,
        **detection_metrics(inside, outside),
        "n_in": int(len(inside)),
        "n_out": int(len(outside)),
        "in_mean": float(inside.double().mean()),
        "out_mean": float(outside.double().mean()),
    }


def _likelihood_summary(by_name: dict[str, ScoredSet], spec) -> dict[str, Any]:
    """Per set: mean NLL (nats per image, bits per dim); the share of its images more likely than
    the median test image (over 1/2: the model prefers the outliers, the failure Nalisnick et al.
    2019a describe); and its single most likely image's NLL with the share of test images that
    are *less* likely than it (the failure in its mild form: one blank image beating real digits)."""
    dims = spec.num_pixels
    test_nll = by_name["test"].nll
    median_test = float(test_nll.median())
    out = {}
    for name, item in by_name.items():
        nll = item.nll
        best = float(nll.min())
        out[name] = {"nll_nats": float(nll.mean()), "nll_bpd": float(nll.mean()) / (dims * math.log(2)),
                     "more_likely_than_median_test": float((nll < median_test).double().mean()),
                     "best_nll_nats": best, "test_less_likely_than_best": float((test_nll > best).double().mean())}
    return out


# ---------------------------------------------------------------------------- writing


def score_label(row: dict[str, Any]) -> str:
    return f"typicality (M={row['batch_size']})" if row["score"] == "typicality" else row["score"]


def format_markdown(table: dict[str, Any]) -> str:
    rows = table["rows"]
    sets = list(table["ood_sets"])
    labels = list(dict.fromkeys(score_label(r) for r in rows))
    lines = [f"# Outlier detection: {table['family']} on {table['dataset']}", "",
             f"In-distribution: {table['in_distribution']}. Positive class: OOD; higher score = more OOD. "
             f"Likelihood bound: {table['bound'] or 'none'}.", ""]
    for metric, title in (("auroc", "AUROC (higher is better)"), ("aupr", "AUPR, OOD positive (higher is better)"),
                          ("fpr95", "FPR at 95% TPR (lower is better)")):
        lines += [f"## {title}", "", "| score | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
        for label in labels:
            cells = []
            for set_name in sets:
                match = [r for r in rows if score_label(r) == label and r["ood"] == set_name]
                cells.append(f"{match[0][metric]:.3f}" if match else "-")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    if table["likelihood"]:
        lines += ["## Negative log-likelihood per set", "",
                  "| set | mean nats/image | mean bits/dim | share more likely than the median test image "
                  "| most likely image (nats) | share of test images less likely than it |", "|---|---|---|---|---|---|"]
        for name, v in table["likelihood"].items():
            lines.append(f"| {name} | {v['nll_nats']:.2f} | {v['nll_bpd']:.3f} | {v['more_likely_than_median_test']:.2f} "
                         f"| {v['best_nll_nats']:.2f} | {v['test_less_likely_than_best']:.3f} |")
        lines.append("")
    for name, why in table["skipped"].items():
        lines.append(f"Skipped `{name}`: {why}.")
    return "\n".join(lines).rstrip() + "\n"


CSV_COLUMNS = ("score", "batch_size", "ood", "auroc", "aupr", "fpr95", "n_in", "n_out", "in_mean", "out_mean")


def format_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in CSV_COLUMNS})
    return buffer.getvalue()


def write_outputs(table: dict[str, Any], by_name: dict[str, ScoredSet], scores: list[str], set_names: list[str],
                  out_dir: Path, options: OutlierOptions) -> None:
    for score in scores:
        _write_histograms(score, by_name, set_names, table["rows"], out_dir / f"hist_{score}.png", options)
    _write_examples(by_name, set_names, out_dir / "sets.png")
    for stale in set(SCORES) - set(scores):  # histograms of an earlier call with other scores would mislead
        (out_dir / f"hist_{stale}.png").unlink(missing_ok=True)
    write_text(out_dir / "table.md", format_markdown(table))
    write_text(out_dir / "table.csv", format_csv(table["rows"]))
    write_json(out_dir / "table.json", table)  # last: its presence means the directory is complete


def _write_histograms(score: str, by_name: dict[str, ScoredSet], set_names: list[str], rows: list[dict[str, Any]],
                      path: Path, options: OutlierOptions) -> None:
    """One panel per OOD set (and per batch size M for typicality): test vs OOD histograms on
    shared bins, at most PANELS_PER_ROW panels to a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(m, name) for m in (options.batch_sizes if score == "typicality" else (None,)) for name in set_names]
    cols = max(1, min(PANELS_PER_ROW, len(set_names)))
    rows_per_m = math.ceil(len(set_names) / cols)
    grid_rows = max(1, rows_per_m * (len(options.batch_sizes) if score == "typicality" else 1))
    fig, axes = plt.subplots(grid_rows, cols, figsize=(3.4 * cols, 2.7 * grid_rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    unit = {"nll": "NLL (nats)", "ratio": "NLL - NLL_bg (nats)", "complexity": "S = -log2 p - L (bits)",
            "typicality": "|batch mean NLL - val mean| (nats)", "disc": "-D(x) (logit)"}[score]
    for i, (m, set_name) in enumerate(panels):
        m_index, j = divmod(i, len(set_names))
        ax = axes[m_index * rows_per_m + j // cols][j % cols]
        if score == "typicality":
            inside, outside = _typicality_batches(by_name, set_name, m, options.seed)
        else:
            inside, outside = by_name["test"].score(score), by_name[set_name].score(score)
        row = next((x for x in rows if x["score"] == score and x["ood"] == set_name and x["batch_size"] == m), None)
        values = torch.cat([inside, outside]).double().numpy()
        values = values[np.isfinite(values)]
        if values.size == 0 or row is None:
            continue
        ax.set_axis_on()
        lo, hi = np.percentile(values, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
        clip = lambda v: np.clip(v.double().numpy(), bins[0], bins[-1])  # noqa: E731  (tails land in the end bins)
        ax.hist(clip(inside), bins=bins, alpha=0.55, density=True, label="test (in)", color="tab:blue")
        ax.hist(clip(outside), bins=bins, alpha=0.55, density=True, label=f"{set_name} (out)", color="tab:red")
        ax.set_title(f"{set_name}{f', M={m}' if m else ''}: AUROC {row['auroc']:.3f}", fontsize=9)
        ax.set_xlabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle(f"{score}: {SCORES[score]}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # leave the title its own strip
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _write_examples(by_name: dict[str, ScoredSet], set_names: list[str], path: Path) -> None:
    """sets.png: the first EXAMPLES_PER_SET images of the test split (top row) and of each OOD set."""
    images = [by_name[name].images[:EXAMPLES_PER_SET].cpu() for name in ["test", *set_names]]
    padded = [torch.cat([x, torch.ones(EXAMPLES_PER_SET - len(x), *x.shape[1:])]) for x in images]
    save_grid(torch.cat(padded), path, nrow=EXAMPLES_PER_SET)
