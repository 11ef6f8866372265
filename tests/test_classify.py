"""Classification by Bayes' rule (genimg.tasks.classify) and the VAE's exact marginalisation of
missing pixels.

The marginal likelihood is checked against an independent computation: the test draws the same
noise, runs the encoder and decoder itself, computes each decoder's per-pixel probabilities from
the decoder's raw outputs with its own formulas, and sums them over the observed pixels only.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

import genimg.tasks.classify.run as classify_module
from genimg.cli import main
from genimg.data import load_dataset
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import build_model
from genimg.models.dcgan.config import DCGANConfig
from genimg.models.diffusion.config import DiffusionConfig
from genimg.models.vae.config import VAEConfig
from genimg.tasks.classify import (
    classify_images,
    confusion_matrix,
    impute_missing,
    keep_mask,
    log_prior,
    missing_strategy,
    parse_missing,
    reliability,
)
from genimg.tasks.classify.missing import missing_tag
from genimg.tasks.recover import SolverOptions
from genimg.train import apply_overrides, default_config, train

DIGITS_AS = {  # the digits as each decoder's data: 17 levels, binarised, dequantised
    "categorical": DataSpec((1, 8, 8), 10, 17),
    "logistic": DataSpec((1, 8, 8), 10, 17),
    "bernoulli": DataSpec((1, 8, 8), 10, 2),
    "gaussian": DataSpec((1, 8, 8), 10, 17, dequantized=True),
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "test")


def _vae(decoder: str = "categorical", conditional: bool = True, **kw):
    torch.manual_seed(0)
    config = VAEConfig(decoder=decoder, conditional=conditional, hidden=32, latent_dim=3, dropout=0, **kw)
    return build_model("vae", config, DIGITS_AS[decoder]).eval()


def _images(digits, decoder: str, n: int = 6) -> torch.Tensor:
    x = digits.images[:n]
    return (x > 0.5).float() if decoder == "bernoulli" else x


# ---------------------------------------------------------------------------- the VAE's marginal


@pytest.mark.parametrize("decoder", list(DIGITS_AS))
def test_with_nothing_missing_the_marginal_is_the_ordinary_bound(digits, decoder):
    model, x = _vae(decoder), _images(digits, decoder)
    labels = digits.labels[: len(x)]
    torch.manual_seed(3)
    plain = model.log_likelihood(x, labels, k=7, chunk=3)
    torch.manual_seed(3)
    masked = model.log_likelihood(x, labels, k=7, chunk=3, mask=torch.ones(1, 1, 8, 8), fill_steps=2)
    for name in ("iw", "elbo"):
        assert torch.allclose(plain[name], masked[name], rtol=1e-6, atol=1e-5), name


def _pixel_log_prob(decoder: str, x: torch.Tensor, out: torch.Tensor, levels: int) -> torch.Tensor:
    """log p(x_pixel | z) from the decoder's raw outputs (N, C, H, W, values), written out here."""
    out = out.double()
    x = x.double()
    if decoder == "categorical":
        index = torch.round(x * (levels - 1)).long()
        return torch.distributions.Categorical(logits=out).log_prob(index)
    if decoder == "bernoulli":
        return torch.distributions.Bernoulli(logits=out[..., 0]).log_prob(x)
    if decoder == "gaussian":  # learned std, floored where the density's peak would exceed L
        std = torch.exp(0.5 * out[..., 1].clamp(-12, 4)).clamp(min=1 / (levels * math.sqrt(2 * math.pi)))
        return torch.distributions.Normal(torch.sigmoid(out[..., 0]), std).log_prob(x)
    mu, scale = out[..., 0], torch.exp(out[..., 1].clamp(min=-7.0))  # discretised logistic
    half = 0.5 / (levels - 1)
    upper = torch.where(x >= 1 - 1e-6, torch.ones_like(x), torch.sigmoid((x + half - mu) / scale))
    lower = torch.where(x <= 1e-6, torch.zeros_like(x), torch.sigmoid((x - half - mu) / scale))
    return torch.log(upper - lower)


@pytest.mark.parametrize("decoder", list(DIGITS_AS))
@pytest.mark.parametrize("missing_side", ["left", "bottom"])
def test_with_half_missing_the_marginal_sums_the_observed_half_only(digits, decoder, missing_side):
    model, x = _vae(decoder), _images(digits, decoder)
    n, k, levels = len(x), 5, DIGITS_AS[decoder].levels
    labels = digits.labels[:n]
    keep = torch.ones(1, 1, 8, 8)
    observed = (slice(None), slice(None), slice(None), slice(4, None))  # the right half
    if missing_side == "left":
        keep[..., :4] = 0
    else:
        keep[..., 4:, :] = 0
        observed = (slice(None), slice(None), slice(None, 4), slice(None))  # the top half
    torch.manual_seed(5)
    got = model.log_likelihood(x, labels, k=k, mask=keep, fill_steps=0)["iw"].double()

    # Independently: the same draws in the same order (dequantisation noise, then eps).
    torch.manual_seed(5)
    y, bins = x, 0.0
    if DIGITS_AS[decoder].dequantized:
        y = (torch.round(x * (levels - 1)) + torch.rand_like(x)) / levels
        bins = -32 * math.log(levels)  # 32 observed pixels, each a bin of width 1 / L
    with torch.no_grad():
        mu, logvar = model.encode(y * keep, labels)  # the encoder sees zeros in the holes
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(k, n, 3)
        z = mu + std * eps
        out = model.decoder_output(z.reshape(-1, 3), labels.repeat(k))
    per_pixel = _pixel_log_prob(decoder, y.repeat(k, 1, 1, 1), out, levels)
    log_px = per_pixel[observed].flatten(1).sum(1).view(k, n)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z.double()).sum(-1)
    posterior = torch.distributions.Normal(mu.double(), std.double()).log_prob(z.double()).sum(-1)
    expected = torch.logsumexp(log_px + bins + prior - posterior, 0) - math.log(k)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_the_hidden_pixels_values_never_matter(digits):
    model, x = _vae(), digits.images[:6]
    keep = keep_mask(0.6, 6, 8, 8, torch.Generator().manual_seed(0))
    scrambled = torch.where(keep.bool(), x, torch.rand(x.shape).mul(16).round().div(16))
    results = []
    for images in (x, scrambled):
        torch.manual_seed(1)
        results.append(model.log_likelihood(images, digits.labels[:6], k=4, mask=keep, fill_steps=2)["iw"])
    assert torch.equal(results[0], results[1])


def test_a_mask_of_the_wrong_shape_is_a_user_error(digits):
    with pytest.raises(UserError, match="does not fit images"):
        _vae().log_likelihood(digits.images[:4], digits.labels[:4], k=2, mask=torch.ones(3, 1, 8, 8))


# ---------------------------------------------------------------------------- Bayes' rule


def test_the_posterior_sums_to_one_and_a_class_never_seen_never_wins(digits):
    model, x = _vae(), digits.images[:12]
    prior = log_prior(torch.tensor([0, 1, 1, 2, 3, 4, 5, 6, 7, 8] * 3), 10)  # no 9 in "training"
    assert prior[9] == -math.inf and torch.isclose(prior.exp().sum(), torch.tensor(1.0, dtype=torch.float64))
    result = classify_images(model, x, prior, k=3, batch_size=5)
    assert torch.allclose(result.posterior.sum(1), torch.ones(12, dtype=torch.float64))
    assert (result.posterior[:, 9] == 0).all() and (result.predictions != 9).all()
    assert torch.equal(result.predictions, result.posterior.argmax(1))
    keep = keep_mask("half", 12, 8, 8)
    masked = classify_images(model, x, prior, keep=keep, k=3, batch_size=5)
    assert torch.allclose(masked.posterior.sum(1), torch.ones(12, dtype=torch.float64))


def test_unconditional_and_likelihood_free_models_are_refused(digits):
    prior = log_prior(digits.labels, 10)
    with pytest.raises(UserError, match="trained without labels; train it with conditional=true"):
        classify_images(_vae(conditional=False), digits.images[:2], prior)
    dcgan = build_model("dcgan", DCGANConfig(g_features=8, d_features=8, latent_dim=4), DIGITS_AS["categorical"])
    with pytest.raises(UserError, match="needs a likelihood bound.*conditional=true"):
        classify_images(dcgan, digits.images[:2], prior)


def _tiny_diffusion():
    torch.manual_seed(0)
    config = DiffusionConfig(
        channels=8, attention=False, norm_groups=4, timesteps=20, monitor_steps=5, conditional=True
    )
    return build_model("diffusion", config, DIGITS_AS["categorical"]).eval()


def test_a_model_that_cannot_marginalise_imputes_and_keeps_the_observed_pixels(digits):
    model, x = _tiny_diffusion(), digits.images[:3]
    keep = keep_mask(0.5, 3, 8, 8, torch.Generator().manual_seed(0))
    with pytest.raises(UserError, match="cannot leave missing pixels out"):
        classify_images(model, x, log_prior(digits.labels, 10), keep=keep)
    assert missing_strategy(model, "dps") == "impute" and missing_strategy(_vae(), "dps") == "marginalise"
    with pytest.raises(UserError, match="--impute"):
        missing_strategy(model, "latent")
    completed = impute_missing(model, x, keep, "dps", options=SolverOptions(steps=2))
    assert torch.equal(completed[keep.bool().expand_as(x)], x[keep.bool().expand_as(x)])
    assert completed.min() >= 0 and completed.max() <= 1
    result = classify_images(model, completed, log_prior(digits.labels, 10), t_stride=5)
    assert result.bound == "vlb_estimate" and torch.allclose(
        result.posterior.sum(1), torch.ones(3, dtype=torch.float64)
    )


# ---------------------------------------------------------------------------- calibration and masks


def test_confusion_matrix_and_ece_by_hand():
    labels = torch.tensor([0, 0, 1, 1])
    probabilities = torch.tensor([[0.92, 0.08], [0.63, 0.37], [0.26, 0.74], [0.85, 0.15]])
    assert confusion_matrix(labels, probabilities.argmax(1), 2).tolist() == [[2, 0], [1, 1]]
    diagram = reliability(probabilities, labels, bins=2)
    # bin [0.5, 1): all four (confidences 0.92, 0.63, 0.74, 0.85, mean 0.785), 3 right: |0.75 - 0.785|
    assert diagram.counts == [0, 4] and diagram.ece == pytest.approx(0.035)
    diagram = reliability(probabilities, labels, bins=10)  # one image per bin: gaps 1 - conf, or conf if wrong
    assert diagram.ece == pytest.approx((0.08 + 0.37 + 0.26 + 0.85) / 4)


@pytest.mark.parametrize(
    "text, value, tag", [(None, None, "complete"), ("0", None, "complete"), ("50%", 0.5, "random-50"),
                         ("0.25", 0.25, "random-25"), ("box", "box", "box"), ("Half", "half", "half")]
)  # fmt: skip
def test_missing_settings(text, value, tag):
    assert parse_missing(text) == value and missing_tag(value) == tag


def test_masks_remove_what_they_say():
    assert keep_mask("half", 5, 8, 8)[0, 0].tolist() == [[0] * 4 + [1] * 4] * 8  # the left half
    assert keep_mask("box", 5, 8, 8).mean() == 0.75
    random = keep_mask(0.75, 5, 28, 28, torch.Generator().manual_seed(0))
    assert random.shape == (5, 1, 28, 28) and (random.flatten(1).sum(1) == 196).all()


# ---------------------------------------------------------------------------- the command line


FAST = ["progress=false", "threads=1", "likelihood_at_end=false", "sample_every=0", "patience=null", "epochs=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    vae = ["hidden=32", "latent_dim=3"]
    diffusion = ["channels=8", "attention=false", "norm_groups=4", "timesteps=20", "warmup_steps=2", "fid_every=0",
                 "select_by=val_loss", "monitor_steps=5", "conditional=true"]  # fmt: skip
    variants = {
        "conditional": ("vae", [*vae, "conditional=true"]),
        "unconditional": ("vae", vae),
        "diffusion": ("diffusion", diffusion),
    }
    return {
        name: train(
            apply_overrides(
                default_config(family), [f"out={out}", f"run_name={name}", "data.limit=200", *FAST, *extra]
            ),
            quiet=True,
        ).run.path
        for name, (family, extra) in variants.items()
    }


class _StubClassifier:
    """The dataset classifier's interface, without training one: uniform probabilities."""

    test_accuracy = 0.5

    def probabilities(self, images):
        return torch.full((images.shape[0], 10), 0.1)


def test_cli_end_to_end(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(classify_module, "extractor_for", lambda *a, **kw: _StubClassifier())
    code = main(["classify", str(runs["conditional"]), "--missing", "0.5", "--n", "20", "--k", "4",
                 "--baseline", "--no-progress"])  # fmt: skip
    assert code == 0
    out = runs["conditional"] / "classify" / "random-50"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 20 and 0 <= summary["generative"]["accuracy"] <= 1
    assert summary["missing"]["fraction"] == pytest.approx(0.5) and summary["bound"]["name"] == "iw"
    assert summary["baseline"]["accuracy"] >= 0 and sum(map(sum, summary["confusion"])) == 20
    rows = (out / "predictions.csv").read_text().splitlines()
    header, first = rows[0].split(","), [float(v) for v in rows[1].split(",")]
    assert len(rows) == 21 and sum(first[header.index("p_0") : header.index("p_9") + 1]) == pytest.approx(1, abs=1e-4)
    assert (out / "confusion.png").stat().st_size > 0 and (out / "reliability.png").stat().st_size > 0
    assert "generative (Bayes' rule)" in capsys.readouterr().out


def test_cli_with_a_diffusion_model_imputes_then_scores(runs, tmp_path):
    arguments = ["--missing", "box", "--n", "4", "--t-stride", "5", "--impute-steps", "2", "--out", str(tmp_path)]
    assert main(["classify", str(runs["diffusion"]), "--no-progress", *arguments]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["bound"]["name"] == "vlb_estimate" and "not itself a bound" in summary["bound"]["description"]
    assert summary["missing"]["strategy"].startswith("missing pixels imputed by dps")


@pytest.mark.parametrize(
    "which, arguments, message",
    [
        ("unconditional", [], "trained without labels; train it with conditional=true"),
        ("conditional", ["--missing", "2"], "--missing 2.0 is out of range"),
        ("conditional", ["--missing", "corner"], "unknown --missing 'corner'"),
        ("conditional", ["--k", "0"], "--k (importance samples) must be at least 1"),
        ("conditional", ["--split", "dev"], "unknown split 'dev'"),
        ("conditional", ["--t-stride", "0"], "--t-stride must be at least 1"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_before_loading_data(runs, monkeypatch, capsys, which, arguments, message):
    def no_data(*args, **kwargs):
        raise AssertionError("data loaded before the options and the model were checked")

    monkeypatch.setattr(classify_module, "load_split", no_data)
    code = main(["classify", str(runs[which]), "--no-progress", *arguments])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err
