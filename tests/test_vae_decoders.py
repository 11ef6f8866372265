"""The VAE's per-pixel decoders: each is a distribution over the grey levels, and no decoder genimg
allows on discrete data can report a negative log-likelihood."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import build_model
from genimg.models.vae.config import VAEConfig, resolve_decoder
from genimg.models.vae.decoders import (
    BernoulliDecoder,
    CategoricalDecoder,
    DiscretizedLogisticDecoder,
    GaussianDecoder,
)


def logistic_reference(levels: int, mu: float, log_scale: float) -> torch.Tensor:
    """P(level k) by the definition, in float64: CDF differences over each bin, edges at +-inf."""
    s = math.exp(log_scale)
    cdf = lambda v: 1 / (1 + math.exp(-(v - mu) / s))  # noqa: E731
    half = 0.5 / (levels - 1)
    probs = []
    for k in range(levels):
        x = k / (levels - 1)
        upper = 1.0 if k == levels - 1 else cdf(x + half)
        lower = 0.0 if k == 0 else cdf(x - half)
        probs.append(upper - lower)
    return torch.tensor(probs, dtype=torch.float64)


@pytest.mark.parametrize("levels", [2, 17, 256])
@pytest.mark.parametrize("mu, log_scale", [(0.5, -2.0), (0.1, -4.0), (0.93, -1.0), (-0.3, -3.0), (0.5, -6.5)])
def test_discretized_logistic_matches_its_definition_and_sums_to_one(levels, mu, log_scale):
    decoder = DiscretizedLogisticDecoder(levels)
    grid = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    out = torch.tensor([mu, log_scale], dtype=torch.float64).expand(levels, 2)
    probs = decoder.log_prob(grid, out).exp()
    reference = logistic_reference(levels, mu, log_scale)
    torch.testing.assert_close(probs, reference, atol=1e-9, rtol=1e-6)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-9)
    assert decoder.mean(out[:1]).item() == pytest.approx(float((reference * grid).sum()), abs=1e-9)


def test_discretized_logistic_is_accurate_far_in_its_tails():
    """Where the two CDF values are both within 1e-20 of 1, a plain difference gives 0 (log -inf)."""
    decoder = DiscretizedLogisticDecoder(256)
    x = torch.tensor([200 / 255], dtype=torch.float64)
    out = torch.tensor([[0.0, math.log(0.01)]], dtype=torch.float64)  # bin at 78 scales from the mean
    s, half = 0.01, 0.5 / 255
    expected = (
        -(x.item() - half) / s + math.log1p(-math.exp(-2 * half / s)) - math.log1p(math.exp(-(x.item() - half) / s))
    )
    assert decoder.log_prob(x, out).item() == pytest.approx(expected, rel=1e-9)


def test_discretized_logistic_samples_follow_its_probabilities():
    torch.manual_seed(0)
    decoder = DiscretizedLogisticDecoder(17)
    out = torch.tensor([0.4, math.log(0.08)]).expand(200_000, 2)
    draws = decoder.sample(out)
    assert torch.allclose(draws * 16, (draws * 16).round(), atol=1e-5)
    frequencies = torch.bincount((draws * 16).round().long(), minlength=17).double() / len(draws)
    torch.testing.assert_close(frequencies, logistic_reference(17, 0.4, math.log(0.08)), atol=4e-3, rtol=0)


OUTPUTS = st.lists(st.floats(-40, 40, allow_nan=False), min_size=2, max_size=2)


@settings(max_examples=300, deadline=None)
@given(level=st.integers(0, 255), out=OUTPUTS)
def test_no_discrete_decoder_gives_a_pixel_more_than_probability_one(level, out):
    """log p(x|z) <= 0 for every pixel whatever the network outputs, for every decoder genimg
    allows on discrete data: a bound built on them is a bound on a probability, never negative NLL."""
    out_t = torch.tensor([out], dtype=torch.float32)
    x = torch.tensor([level / 255.0])
    assert DiscretizedLogisticDecoder(256).log_prob(x, out_t).item() <= 1e-6
    assert BernoulliDecoder().log_prob((x > 0.5).float(), out_t).item() <= 1e-6
    logits = torch.tensor([[out[0]] * 16 + [out[1]]])
    assert CategoricalDecoder(17).log_prob(torch.tensor([level % 17 / 16.0]), logits).item() <= 1e-6
    # dequantised Gaussian on L levels: its density term log p(y) - log L per pixel
    for levels in (17, 256):
        y = torch.tensor([(level % levels + 0.5) / levels])
        density = GaussianDecoder(True, 0.1, levels).log_prob(y, out_t).item()
        assert density - math.log(levels) <= 1e-6


@pytest.mark.parametrize(
    "decoder, spec, message",
    [
        ("gaussian", DataSpec((1, 28, 28), 10, 256), "data.dequantize=uniform"),
        ("bernoulli", DataSpec((1, 28, 28), 10, 256), "data.binarize=0.5"),
        ("categorical", DataSpec((1, 28, 28), 10, None), "continuous"),
        ("logistic", DataSpec((1, 28, 28), 10, None), "continuous"),
    ],
)
def test_decoders_that_are_not_a_likelihood_on_the_data_are_refused(decoder, spec, message):
    with pytest.raises(UserError, match=message):
        resolve_decoder(decoder, spec)


@pytest.mark.parametrize(
    "spec, chosen",
    [
        (DataSpec((1, 8, 8), 10, 2), "bernoulli"),
        (DataSpec((1, 8, 8), 10, 17), "categorical"),
        (DataSpec((1, 28, 28), 10, 256), "logistic"),
        (DataSpec((1, 28, 28), 10, 256, dequantized=True), "gaussian"),
        (DataSpec((1, 32, 32), 10, None), "gaussian"),
    ],
)
def test_auto_never_picks_a_density_for_discrete_data(spec, chosen):
    assert resolve_decoder("auto", spec) == chosen


def test_dequantised_gaussian_bound_includes_the_bin_width():
    """log P(x) >= E_u log p((k + u) / L) - D log L: the model's bound carries the -D log L."""
    spec = DataSpec((1, 4, 4), 10, 17, dequantized=True)
    torch.manual_seed(0)
    model = build_model("vae", VAEConfig(decoder="gaussian", latent_dim=2, hidden=8), spec).eval()
    x = torch.randint(0, 17, (3, 1, 4, 4)).float() / 16
    y, correction = model.dequantize(x)
    assert correction == pytest.approx(-16 * math.log(17))
    assert ((y >= 0) & (y < 1)).all() and torch.equal(torch.floor(y * 17), x * 16)  # each y in its level's bin
    torch.manual_seed(1)
    elbo = model.elbo_terms(x)
    torch.manual_seed(1)
    y, _ = model.dequantize(x)
    mu, logvar = model.encode(y)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    density = model.log_px_given_z(y, model.decoder_output(z))
    torch.testing.assert_close(elbo["log_px_z"], density + correction)
