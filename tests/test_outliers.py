"""Outlier detection (genimg.tasks.outliers) and its metrics (genimg.evaluate.detection).

The OOD sets are checked for shape, range and grey levels; the metrics against hand-computed
values (AUROC as the Mann-Whitney pair count, AUPR as the mean precision at each positive,
FPR@95 on a case worked out by hand); the complexity score against an independently written
PNG; the typicality statistic on hand-made values; the likelihood ratio against a stand-in
background model; and the command line end to end.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import genimg.tasks.outliers as outliers
import genimg.tasks.outliers.background as outlier_background
import genimg.tasks.outliers.detect as outlier_detect
import genimg.tasks.outliers.likelihood as outlier_likelihood
from genimg.cli import main
from genimg.data import load_dataset
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.evaluate.detection import detection_metrics
from genimg.models.base import GenerativeModel, build_model
from genimg.tasks.outliers import BUILTIN_SETS, make_ood_set, parse_set_names
from genimg.train import apply_overrides, default_config, train

FAST = ["progress=false", "threads=1", "likelihood_at_end=false", "sample_every=0", "patience=null"]
TINY_VAE = ["hidden=32", "latent_dim=4", "epochs=2"]
LEVELS = 17


def _train(out, name: str, *overrides: str):
    config = apply_overrides(default_config("vae"), [f"out={out}", f"run_name={name}", *FAST, *TINY_VAE, *overrides])
    return train(config, quiet=True)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A tiny VAE trained on digits 0-8, so that the 9s are a held-out class."""
    return _train(tmp_path_factory.mktemp("runs"), "vae09", "classes=[0,1,2,3,4,5,6,7,8]")


def _on_grid(images: torch.Tensor, levels: int) -> bool:
    scaled = images * (levels - 1)
    return bool(torch.allclose(scaled, scaled.round(), atol=1e-5))


# ---------------------------------------------------------------------------- OOD sets


@pytest.mark.parametrize("name", [n for n in BUILTIN_SETS if n != "heldout"])
def test_ood_sets_have_the_models_shape_range_and_levels(name, spec, test_split):
    n = 50
    ood = make_ood_set(name, spec, test_split, n, torch.Generator().manual_seed(0))
    x = ood.images
    assert ood.skipped is None
    assert x.dtype == torch.float32 and tuple(x.shape) == (n, 1, 8, 8)
    assert x.min() >= 0 and x.max() <= 1
    assert _on_grid(x, LEVELS)
    if name == "constant":
        assert torch.equal(x, x[:, :, :1, :1].expand_as(x))  # one level per image
        assert len(x[:, 0, 0, 0].unique()) > 5  # and different levels across images
    elif name == "inverted":
        flipped = 1 - x  # each inverted image is 1 - a test image
        matches = (flipped.flatten(1)[:, None] - test_split.images.flatten(1)[None]).abs().amax(-1).amin(1)
        assert matches.max() < 1e-6
    else:
        assert x.flatten(1).std(1).mean() > 0.02  # not flat


def test_uniform_noise_covers_the_levels(spec, test_split):
    x = make_ood_set("uniform", spec, test_split, 500, torch.Generator().manual_seed(0)).images
    counts = torch.bincount(torch.round(x * (LEVELS - 1)).long().flatten(), minlength=LEVELS)
    expected = x.numel() / LEVELS
    assert len(counts) == LEVELS and (counts - expected).abs().max() < 0.1 * expected


def test_ood_sets_follow_an_rgb_continuous_model(test_split):
    rgb = DataSpec((3, 16, 16), 10, None)
    for name in ("natural", "faces", "uniform"):
        x = make_ood_set(name, rgb, test_split, 12, torch.Generator().manual_seed(1)).images
        assert tuple(x.shape) == (12, 3, 16, 16) and x.min() >= 0 and x.max() <= 1
    faces = make_ood_set("faces", rgb, test_split, 12, torch.Generator().manual_seed(1)).images
    assert torch.equal(faces[:, 0], faces[:, 1])  # grey faces repeated into three channels


def test_heldout_set_is_the_classes_the_run_never_saw(spec, test_split):
    data = {"dataset": "digits", "classes": list(range(9))}
    ood = make_ood_set("heldout", spec, test_split, 10_000, torch.Generator().manual_seed(0), data_options=data)
    splits = [load_dataset("digits", s) for s in ("train", "val", "test")]
    nines = torch.cat([split.images[split.labels == 9] for split in splits])
    assert ood.images.shape == nines.shape
    assert torch.equal(ood.images.sum(0), nines.sum(0))  # the same images, in some order
    every_class = {"dataset": "digits", "classes": None}
    skipped = make_ood_set("heldout", spec, test_split, 10, torch.Generator(), data_options=every_class)
    assert skipped.images is None and "every class" in skipped.skipped


def test_unknown_ood_set_names_the_choices():
    with pytest.raises(UserError, match="unknown OOD set 'cats'.*uniform.*constant.*npz:PATH"):
        parse_set_names("uniform,cats")
    assert parse_set_names("all") == list(BUILTIN_SETS)
    assert parse_set_names("constant, npz:/x.npz,constant") == ["constant", "npz:/x.npz"]


def test_external_npz_set_is_resized_and_quantised(tmp_path, spec, test_split):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "other.npz", x=rng.integers(0, 256, size=(40, 20, 20, 3), dtype=np.uint8))
    x = make_ood_set(f"npz:{tmp_path / 'other.npz'}", spec, test_split, 100, torch.Generator()).images
    assert tuple(x.shape) == (40, 1, 8, 8) and _on_grid(x, LEVELS)  # every split, grey, 8x8, 17 levels


# ---------------------------------------------------------------------------- metrics


def _auroc_by_pairs(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(score of an OOD image > score of a test image), ties counting one half (Mann-Whitney)."""
    diff = outside[:, None] - inside[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _average_precision_by_hand(inside: np.ndarray, outside: np.ndarray) -> float:
    """Mean over OOD images of the precision among images scoring at least as high (no ties here)."""
    precisions = [(outside >= s).sum() / ((outside >= s).sum() + (inside >= s).sum()) for s in outside]
    return float(np.mean(precisions))


def test_detection_metrics_match_hand_computed_values():
    rng = np.random.default_rng(0)
    inside, outside = rng.normal(0, 1, 300), rng.normal(1, 1, 200)
    m = detection_metrics(inside, outside)
    assert m["auroc"] == pytest.approx(_auroc_by_pairs(inside, outside), abs=1e-12)
    assert m["aupr"] == pytest.approx(_average_precision_by_hand(inside, outside), abs=1e-12)
    ties = detection_metrics(np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0]))
    assert ties["auroc"] == pytest.approx(_auroc_by_pairs(np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0])))
    flipped = detection_metrics(outside, inside)  # swapping the roles mirrors the AUROC
    assert flipped["auroc"] == pytest.approx(1 - m["auroc"], abs=1e-12)


def test_fpr_at_95_tpr_on_a_hand_made_case():
    inside = np.arange(100.0)  # test scores 0..99
    outside = np.arange(100.0) + 10.5  # OOD scores 10.5..109.5
    # Flagging 95 of the 100 OOD images needs a threshold at 15.5; the test images above it
    # are 16..99: 84 of 100.
    assert detection_metrics(inside, outside)["fpr95"] == pytest.approx(0.84)
    separated = detection_metrics(np.zeros(10), np.ones(20))
    assert separated == {"auroc": 1.0, "aupr": 1.0, "fpr95": 0.0}


# ---------------------------------------------------------------------------- scores


def test_complexity_score_is_minus_log2_p_minus_the_png_length(vae_run, test_split, tmp_path):
    x = torch.cat([test_split.images[:5], torch.full((2, 1, 8, 8), 0.5), torch.rand(3, 1, 8, 8)])
    x = torch.round(x * 16) / 16
    nll, bound = outliers.negative_log_likelihood(vae_run.model, x, k=10, seed=3)
    assert bound == "iw"
    by_hand = []
    for i, image in enumerate(x):  # an independent PNG: level indices 0..16 as 8-bit grey, to a file
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.rint(image[0].numpy() * 16).astype(np.uint8)).save(path, optimize=True)
        by_hand.append(8 * path.stat().st_size)
    bits = outliers.complexity_bits(x, LEVELS)
    assert bits.tolist() == by_hand
    score = outliers.complexity_score(nll, bits)
    assert torch.allclose(score, nll / math.log(2) - torch.tensor(by_hand, dtype=torch.float64))
    assert bits[5] < bits[0] < bits[-1]  # flat < digit < noise


def test_nll_is_reproducible_and_matches_the_models_bound(vae_run, test_split):
    x = test_split.images[:20]
    a, _ = outliers.negative_log_likelihood(vae_run.model, x, k=30, seed=5, batch_size=7)
    b, _ = outliers.negative_log_likelihood(vae_run.model, x, k=30, seed=5, batch_size=7)
    assert torch.equal(a, b)
    torch.manual_seed(5)
    direct = vae_run.model.log_likelihood(x[:7], k=30)["iw"].double()
    assert torch.allclose(a[:7], -direct)


def test_likelihoods_are_cached_by_config_weights_images_and_options(vae_run, test_split, tmp_path, monkeypatch):
    x, model = test_split.images[:10], vae_run.model
    first, _ = outliers.cached_negative_log_likelihood(model, x, tmp_path, k=5, seed=1)
    real = outliers.negative_log_likelihood
    monkeypatch.setattr(
        outlier_likelihood, "negative_log_likelihood", lambda *a, **k: pytest.fail("recomputed a cached likelihood")
    )
    again, bound = outliers.cached_negative_log_likelihood(model, x, tmp_path, k=5, seed=1)
    assert torch.equal(first, again) and bound == "iw"
    calls = []
    monkeypatch.setattr(outlier_likelihood, "negative_log_likelihood", lambda *a, **k: calls.append(k) or real(*a, **k))
    outliers.cached_negative_log_likelihood(model, x, tmp_path, k=5, seed=2)  # other options
    outliers.cached_negative_log_likelihood(model, x[:9], tmp_path, k=5, seed=1)  # other images
    weight = next(model.parameters())
    saved = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1e-3)
    try:
        outliers.cached_negative_log_likelihood(model, x, tmp_path, k=5, seed=1)  # other weights
    finally:
        with torch.no_grad():
            weight.copy_(saved)
    beta = model.config.beta
    model.config.beta = beta + 1  # other config, same weights
    try:
        outliers.cached_negative_log_likelihood(model, x, tmp_path, k=5, seed=1)
    finally:
        model.config.beta = beta
    assert len(calls) == 4


def test_conditional_model_is_scored_by_the_mixture_over_classes(spec, test_split):
    torch.manual_seed(0)
    config = apply_overrides(default_config("vae"), ["conditional=true", "hidden=32", "latent_dim=4"])
    model = build_model("vae", config.model, spec).eval()
    x = test_split.images[:6]
    nll, _ = outliers.negative_log_likelihood(model, x, k=8, seed=2)
    torch.manual_seed(2)
    per_class = torch.stack([model.log_likelihood(x, torch.full((6,), c), k=8)["iw"].double() for c in range(10)])
    assert torch.allclose(nll, -(torch.logsumexp(per_class, 0) - math.log(10)))


def test_typicality_statistic_on_hand_made_values():
    batches = torch.tensor([[1.0, 3.0], [10.0, 12.0], [4.0, 6.0]])
    assert outliers.typicality_statistic(batches, 5.0).tolist() == [3.0, 6.0, 0.0]
    values = torch.arange(23.0)
    cut = outliers.random_batches(values, 5, torch.Generator().manual_seed(0))
    assert cut.shape == (4, 5) and len(cut.flatten().unique()) == 20  # disjoint, remainder dropped


class ConstantBackground(GenerativeModel):
    """A stand-in background model: log p_bg(x) = -(sum of pixel values) - 7."""

    family = "stand-in"

    def __init__(self, spec):
        super().__init__(None, spec)
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def log_likelihood(self, x, labels=None, **_):
        return {"vlb": -x.flatten(1).sum(1) - 7}


def test_likelihood_ratio_uses_the_background_model(vae_run, monkeypatch, tmp_path):
    asked = []

    def fake_background(run_path, mu, seed, overrides=None, **_):
        asked.append((mu, seed))
        return ConstantBackground(vae_run.model.spec)

    monkeypatch.setattr(outlier_detect, "background_model", fake_background)
    options = outliers.OutlierOptions(ood=["constant"], scores=["nll", "ratio"], k=5, mu=0.2, seed=4, progress=False)
    table = outliers.detect_outliers(vae_run.run.path, options, out=tmp_path / "o", log=lambda *a: None)
    assert asked == [(0.2, 4)]
    rows = {r["score"]: r for r in table["rows"]}
    # ratio = NLL_model - NLL_bg with NLL_bg = pixel sum + 7, on the whole test split (digits 0-8).
    test = load_dataset("digits", "test", classes=list(range(9)))
    shift = float((test.images.flatten(1).sum(1) + 7).double().mean())
    assert rows["ratio"]["n_in"] == len(test)
    assert rows["ratio"]["in_mean"] == pytest.approx(rows["nll"]["in_mean"] - shift, rel=1e-9)


def test_perturbed_dataset_replaces_a_fraction_of_pixels_with_levels():
    clean = load_dataset("digits", "train")
    noisy = load_dataset("perturbed:mu=0.5,seed=3:digits", "train")
    again = load_dataset("perturbed:mu=0.5,seed=3:digits", "train")
    assert torch.equal(noisy.images, again.images) and torch.equal(noisy.labels, clean.labels)
    assert noisy.levels == LEVELS and _on_grid(noisy.images, LEVELS)
    changed = (noisy.images != clean.images).double().mean().item()
    # A replaced pixel keeps its value by chance 1 time in 17.
    assert changed == pytest.approx(0.5 * 16 / 17, abs=0.01)
    val = load_dataset("perturbed:mu=0.5,seed=3:digits", "val")
    assert not torch.equal(val.images != load_dataset("digits", "val").images, (noisy.images != clean.images)[:350])
    with pytest.raises(UserError, match="perturbed:mu=M,seed=S:BASE"):
        load_dataset("perturbed:mu=2:digits", "train")


def test_background_model_is_trained_once_then_read_from_its_run_directory(vae_run, monkeypatch):
    model = outliers.background_model(vae_run.run.path, 0.1, 0, ["epochs=1"], progress=False, log=lambda *a: None)
    path = outliers.background_dir(vae_run.run.path, 0.1, 0)
    config = (path / "config.yaml").read_text()
    assert "perturbed:mu=0.1,seed=0:digits" in config and "- 8" in config  # same classes as the run
    monkeypatch.setattr(
        outlier_background, "train", lambda *a, **k: pytest.fail("the cached background model was retrained")
    )
    cached = outliers.background_model(vae_run.run.path, 0.1, 0, ["epochs=1"], progress=False, log=lambda *a: None)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), cached.state_dict().values()))
    with pytest.raises(UserError, match="delete that directory"):
        outliers.background_model(vae_run.run.path, 0.1, 0, ["epochs=2"], progress=False, log=lambda *a: None)


def test_scores_a_family_lacks_are_refused(spec):
    gan = build_model("dcgan", default_config("dcgan").model, spec).eval()
    assert outliers.resolve_scores(None, gan) == ["disc"]
    with pytest.raises(UserError, match="choose from disc"):
        outliers.resolve_scores("nll", gan)
    x = torch.rand(5, 1, 8, 8)
    assert torch.allclose(outliers.discriminator_scores(gan, x), -gan.discriminator_score(x).double().flatten())


# ---------------------------------------------------------------------------- command line


def test_cli_writes_the_tables_and_histograms(vae_run, capsys):
    run = vae_run.run.path
    code = main(
        [
            "outliers",
            str(run),
            "--ood",
            "heldout,uniform,constant",
            "--score",
            "nll,ratio,complexity,typicality",
            "--n",
            "40",
            "--k",
            "5",
            "--batch-sizes",
            "2,5",
            "--background",
            "epochs=1",
            "--no-progress",
        ]
    )
    assert code == 0
    out = run / "outliers"
    for name in (
        "table.json",
        "table.csv",
        "table.md",
        "hist_nll.png",
        "hist_ratio.png",
        "hist_complexity.png",
        "hist_typicality.png",
        "sets.png",
    ):
        assert (out / name).is_file(), name
    table = json.loads((out / "table.json").read_text())
    labels = {(r["score"], r["batch_size"], r["ood"]) for r in table["rows"]}
    assert len(labels) == 3 * 3 + 2 * 3 == len(table["rows"])
    assert all(0 <= r["auroc"] <= 1 and 0 <= r["fpr95"] <= 1 for r in table["rows"])
    typical = [r for r in table["rows"] if r["score"] == "typicality" and r["batch_size"] == 5]
    assert {r["n_in"] for r in typical} == {8}  # 40 test images in disjoint batches of 5
    uniform = next(r for r in table["rows"] if r["score"] == "nll" and r["ood"] == "uniform")
    assert uniform["auroc"] > 0.9  # even a tiny VAE finds noise unlikely
    assert (out / "table.csv").read_text().count("\n") == len(table["rows"]) + 1
    assert "| nll |" in (out / "table.md").read_text()
    assert "heldout" in capsys.readouterr().out


def test_cli_bad_names_exit_2_naming_the_choices(vae_run, capsys):
    assert main(["outliers", str(vae_run.run.path), "--ood", "martians"]) == 2
    assert "unknown OOD set 'martians'" in capsys.readouterr().err
    assert main(["outliers", str(vae_run.run.path), "--score", "nll,vibes"]) == 2
    err = capsys.readouterr().err
    assert "unknown score 'vibes'" in err and "nll, ratio, complexity, typicality, disc" in err
