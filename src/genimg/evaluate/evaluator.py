"""Everything a run is scored with, read back from its run directory: `genimg evaluate`.

Sample quality (FID, KID, IS with sharpness and diversity, precision/recall, the class
histogram and its entropy) is measured in the features of a pluggable extractor, by default
a classifier trained on the dataset itself; every score records the extractor's id and the
classifier's test accuracy. Scores are read against the real-vs-real floor: random subsets of
the train split against the test split at the same sample count (FID is strongly biased at
small N). Model scores are means ± std over several fresh sampling seeds, never the
evaluation that selected the checkpoint. Likelihoods come from the family's own bound.
What to measure, and how, is an ``EvaluationOptions`` (``options.py``).

The same pieces score a model during training: ``TrainingEvaluator`` (FID and the
class-histogram entropy every ``train.fid_every`` epochs, against a fixed reference split).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genimg.config.run_config import DataConfig
from genimg.data.dataset import ImageDataset
from genimg.data.registry import load_split
from genimg.errors import UserError
from genimg.evaluate.extractor import FeatureExtractor
from genimg.evaluate.features import get_extractor
from genimg.evaluate.judgements import judge_score
from genimg.evaluate.likelihood import test_log_likelihood
from genimg.evaluate.metrics.fid import fid
from genimg.evaluate.metrics.inception_score import inception_score
from genimg.evaluate.metrics.kid import kid
from genimg.evaluate.metrics.precision_recall import precision_recall
from genimg.evaluate.options import SAMPLE_METRICS, EvaluationOptions
from genimg.io import write_json
from genimg.models.base import GenerativeModel
from genimg.models.precision import as_float64, autocast, resolve_precision
from genimg.rng import fixed_seed
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model

EVAL_SEED_OFFSET = 10_000  # evaluation seeds never coincide with the seeds training used


def extractor_for(
    data_config: DataConfig, kind: str = "classifier", device: str | torch.device = "cpu", **opts: Any
) -> FeatureExtractor:
    """The extractor for a run's data: the classifier is trained on the same dataset and size."""
    if kind == "classifier" and data_config.image_size is not None:
        opts.setdefault("image_size", data_config.image_size)
    return get_extractor(kind, data_config.dataset, device=device, **opts)


def _mean_std(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def sample_images(
    model: GenerativeModel, n: int, seed: int | None = None, batch_size: int = 500, **options: Any
) -> torch.Tensor:
    """n samples as float32 CPU tensors, drawn in batches. With ``seed``, from that fixed seed and
    without disturbing the caller's RNG stream; without, from the current stream."""

    def draw() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat(
                [
                    model.sample(min(batch_size, n - start), progress=False, **options).float().cpu()
                    for start in range(0, n, batch_size)
                ]
            )

    if seed is None:
        return draw()
    with fixed_seed(seed):
        return draw()


def class_histogram(probabilities: torch.Tensor) -> tuple[list[int], float]:
    """Counts of the classifier's top class over samples, and the entropy of that histogram in
    nats (log K for K equally used classes: 2.303 for 10)."""
    counts = torch.bincount(probabilities.argmax(1), minlength=probabilities.shape[1])
    p = as_float64(counts) / counts.sum().item()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
    return counts.tolist(), entropy


def score_images(
    extractor: FeatureExtractor,
    real_feats: torch.Tensor,
    images: torch.Tensor,
    metrics: tuple[str, ...],
    seed: int,
) -> dict[str, Any]:
    """Quality scores of one set of images against precomputed real features."""
    feats, probs = extractor.features_and_probabilities(images)
    out: dict[str, Any] = {}
    if "fid" in metrics:
        out["fid"] = fid(real_feats, feats)
    if "kid" in metrics:
        k = kid(real_feats, feats, subset_size=min(len(real_feats), len(feats), 1000), seed=seed)
        out["kid"] = k.mean
    if "is" in metrics:
        score = inception_score(probs, splits=min(10, max(1, len(probs) // 50)), seed=seed)
        out.update({"is": score.mean, "sharpness": score.sharpness, "diversity": score.diversity})
    if "pr" in metrics:
        pr = precision_recall(real_feats, feats, k=3)
        out.update({"precision": pr.precision, "recall": pr.recall})
    counts, entropy = class_histogram(probs)
    out.update({"class_entropy": entropy, "class_histogram": counts})
    return out


def real_floor(
    extractor: FeatureExtractor,
    train: ImageDataset,
    real_feats: torch.Tensor,
    n: int,
    subsets: int,
    metrics: tuple[str, ...],
    seed: int,
) -> dict[str, Any]:
    """What perfect samples would score: random n-subsets of the train split against the reference."""
    if n > len(train):
        raise UserError(f"the floor needs {n} train images but the train split has {len(train)}; use a smaller --n")
    g = torch.Generator().manual_seed(seed)
    per_subset = []
    for _ in range(subsets):
        idx = torch.randperm(len(train), generator=g)[:n]
        per_subset.append(score_images(extractor, real_feats, train.images[idx], metrics, seed))
    return _summarise(per_subset)


def _summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in results[0].items() if isinstance(v, float)]
    summary: dict[str, Any] = {k: _mean_std([r[k] for r in results]) for k in keys}
    if "class_histogram" in results[0]:
        summary["class_histogram"] = [sum(col) for col in zip(*(r["class_histogram"] for r in results))]
    return summary


def evaluate_run(
    run_path: str | Path,
    options: EvaluationOptions | None = None,
    *,
    progress: bool = True,
    write: bool = True,
    log: Callable[[str], None] = print,
    **fields: Any,
) -> dict[str, Any]:
    """Score a run's kept weights as ``options`` say (default: ``EvaluationOptions()``); keyword
    ``fields`` of ``EvaluationOptions`` replace single ones (``evaluate_run(run, n=500, seeds=2)``).
    Writes RUN/eval/metrics.json (unless ``write`` is False) and returns the same dict.

    Samples are drawn in ``options.precision`` (default: the run's ``train.precision``, resolved
    for the device); every score and the likelihood are computed in float32/64 whatever it is."""
    # Every option is checked (by EvaluationOptions) before the model, the data or a sample is touched.
    options = replace(options or EvaluationOptions(), **fields) if fields else options or EvaluationOptions()
    metrics, n, seed, device = options.metrics, options.n, options.seed, options.device
    run = RunDir.open(run_path)
    human = judge_score(run.path) if "human" in metrics else None
    if metrics == ("human",) and human is None:
        raise UserError(
            f"{run.path} has no judgements yet; collect some with `genimg studio {run.path}` (the judge page)"
        )
    config = run.config()
    model = load_model(run.path, device=device)
    if metrics == ("likelihood",):
        model.require("likelihood", "--metrics likelihood")
    d = config.data
    test = load_split(d, "test")
    n = n or len(test)
    if n > len(test):
        raise UserError(f"--n {n} exceeds the {len(test)} test images the samples are compared with")
    reference = test.subset(slice(0, n))
    sample_options = dict(options.sample_options)

    result: dict[str, Any] = {
        "run": str(run.path),
        "family": config.family,
        "dataset": d.dataset,
        "n": n,
        "seeds": [EVAL_SEED_OFFSET + seed + i for i in range(options.seeds)],
        "sampling": sample_options,
        "precision": resolve_precision(
            options.precision or config.train.precision, model.device, model.spec.image_size
        ),
    }
    if human is not None:
        result["human"] = human
    quality = tuple(m for m in metrics if m in SAMPLE_METRICS)
    if quality:
        extractor = extractor_for(d, options.features, device=device)
        result["extractor"] = extractor.extractor_id()
        result["extractor_identity"] = extractor.identity
        real_feats = extractor.features(reference.images)
        train = load_split(d, "train")
        result["floor"] = real_floor(extractor, train, real_feats, n, options.floor_subsets, quality, seed)
        per_seed = []
        for s in tqdm(result["seeds"], desc="sampling seeds", disable=not progress, leave=False):
            with autocast(result["precision"], model.device):
                images = sample_images(model, n, s, **sample_options)
            per_seed.append(score_images(extractor, real_feats, images, quality, s))
        result["scores"] = _summarise(per_seed)
        if "fid" in quality:
            result["fid_over_floor"] = result["scores"]["fid"]["mean"] / result["floor"]["fid"]["mean"]
    if "likelihood" in metrics and model.has("likelihood"):
        torch.manual_seed(EVAL_SEED_OFFSET + seed)
        # t_stride > 1 reaches only the diffusion bound, which returns an estimate under its own name
        extra = {"t_stride": options.t_stride} if options.t_stride > 1 else {}
        result["likelihood"] = test_log_likelihood(model, test, k=options.likelihood_k, progress=progress, **extra)
        if any("estimate" in key for key in result["likelihood"]):
            result["likelihood"].update(extra)  # the stride is part of what the estimate means
    if write:
        write_json(run.eval_dir / "metrics.json", result)
    log(format_table(result))
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{result['family']} on {result['dataset']}: {result['n']} samples x {len(result['seeds'])} seeds"]
    if "extractor" in result:
        acc = result.get("extractor_identity", {}).get("test_accuracy")
        lines.append(f"features: {result['extractor']}" + (f" (test accuracy {acc:.1%})" if acc is not None else ""))
        lines.append(f"{'metric':<16}{'model (mean ± std)':>24}{'real-vs-real floor':>24}")
        for key, value in result["scores"].items():
            if isinstance(value, dict):
                floor = result["floor"].get(key)
                fl = f"{floor['mean']:.4g} ± {floor['std']:.2g}" if floor else ""
                lines.append(f"{key:<16}{value['mean']:>14.4g} ± {value['std']:<8.2g}{fl:>24}")
        if "fid_over_floor" in result:
            lines.append(f"FID / floor: {result['fid_over_floor']:.2f}")
    human = result.get("human")
    if human and human["trials"]:
        low, high = human["ci95"]
        lines.append(
            f"human judges: fooling rate {human['fooling_rate']:.1%} (95% CI {low:.1%}-{high:.1%}, "
            f"{human['trials']} trials; 50% = indistinguishable from real)"
        )
    likelihood = result.get("likelihood", {})
    for key, value in likelihood.items():
        if key.endswith("_nats"):
            name = key[4:-5]  # nll_<name>_nats
            if name.endswith("_estimate"):  # a strided sum estimates the bound; it bounds nothing
                what = f"{name.removesuffix('_estimate')} estimate (t-stride {likelihood.get('t_stride', '?')})"
            else:
                what = f"{name} bound"
            lines.append(f"test {what}: {value:.2f} nats/image, {likelihood[key[:-5] + '_bpd']:.4f} bits/dim")
    return "\n".join(lines)


class TrainingEvaluator:
    def __init__(self, reference: ImageDataset, n: int, device: torch.device, data: DataConfig) -> None:
        opts: dict[str, Any] = {"image_size": data.image_size} if data.image_size else {}
        self.extractor = get_extractor("classifier", data.dataset, device=device, **opts)
        self.n = n
        self.real_features = self.extractor.features(reference.images)

    def __call__(self, model: GenerativeModel) -> dict[str, Any]:
        # The caller fixes the seed; sampling here must not reseed.
        images = sample_images(model, self.n, **model.monitoring_sample_options())
        feats, probs = self.extractor.features_and_probabilities(images)
        _, entropy = class_histogram(probs)
        return {"fid": fid(self.real_features, feats), "class_entropy": entropy}
