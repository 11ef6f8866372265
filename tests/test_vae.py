import math

import pytest
import torch

from genimg.data import load_dataset
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import Batch, build_model
from genimg.models.stepper import Stepper
from genimg.models.vae.config import VAEConfig


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train")


def make(digits, **kw):
    torch.manual_seed(0)
    return build_model("vae", VAEConfig(**kw), DataSpec.of(digits))


DIGITS_AS = {  # the digits as each decoder's data: 17 levels, binarised, dequantised
    "categorical": DataSpec((1, 8, 8), 10, 17),
    "logistic": DataSpec((1, 8, 8), 10, 17),
    "bernoulli": DataSpec((1, 8, 8), 10, 2),
    "gaussian": DataSpec((1, 8, 8), 10, 17, dequantized=True),
}


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("decoder", list(DIGITS_AS))
def test_shapes_and_ranges(digits, arch, decoder):
    torch.manual_seed(0)
    m = build_model("vae", VAEConfig(arch=arch, decoder=decoder, latent_dim=3), DIGITS_AS[decoder])
    x = digits.images[:10] if decoder != "bernoulli" else (digits.images[:10] > 0.5).float()
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (10, 3)
    for mode in ("mean", "sample"):
        s = m.sample(7, mode=mode)
        assert s.shape == (7, 1, 8, 8) and s.dtype == torch.float32
        assert 0 <= s.min() and s.max() <= 1
    assert m.reconstruct(x).shape == x.shape


def test_untrained_categorical_decoder_gives_uniform_likelihood(digits):
    # A decoder with zero output weights predicts a uniform distribution over the 17 levels.
    m = make(digits)
    with torch.no_grad():
        m.decoder[-1].weight.zero_()
        m.decoder[-1].bias.zero_()
    out = m.decoder_output(torch.zeros(4, 16))
    assert torch.allclose(m.log_px_given_z(digits.images[:4], out), torch.full((4,), -64 * math.log(17)))


def test_categorical_sample_lies_on_the_17_levels(digits):
    s = make(digits).sample(16, mode="sample")
    assert torch.allclose(s * 16, (s * 16).round(), atol=1e-5)


def test_iw_bound_is_tighter_than_elbo_and_improves_with_k(digits):
    m = make(digits)
    x = digits.images[:32]
    torch.manual_seed(1)
    b = m.log_likelihood(x, k=200)
    assert (b["iw"] >= b["elbo"] - 1e-4).all()  # Jensen: log E[w] >= E[log w] on the same draws
    torch.manual_seed(1)
    small = m.log_likelihood(x, k=2)["iw"].mean()
    assert b["iw"].mean() > small


def test_training_reduces_the_negative_elbo(digits):
    m = make(digits, iw_samples=1)
    stepper = Stepper(m.configure_optimizers())
    batch = Batch(digits.images[:200], digits.labels[:200])
    first = m.training_step(batch, stepper)["loss"]
    for _ in range(30):
        last = m.training_step(batch, stepper)["loss"]
    assert last < first - 20


def test_beta_weights_the_kl(digits):
    torch.manual_seed(0)
    m = make(digits, beta=4.0, iw_samples=1)
    torch.manual_seed(3)
    out = m.losses(Batch(digits.images[:50], digits.labels[:50]))
    torch.manual_seed(3)
    terms = m.elbo_terms(digits.images[:50])
    assert out["loss"].item() == pytest.approx((-terms["log_px_z"] + 4 * terms["kl"]).mean().item(), rel=1e-5)


def test_conditional_vae_samples_by_label(digits):
    m = make(digits, conditional=True)
    assert m.sample(5, labels=3).shape == (5, 1, 8, 8)
    with pytest.raises(UserError, match="0..9"):
        m.sample(2, labels=12)
    with pytest.raises(UserError, match="conditional"):
        make(digits).sample(2, labels=3)


def test_28x28_and_rgb_32x32_conv_shapes():
    for shape in [(1, 28, 28), (3, 32, 32)]:
        m = build_model("vae", VAEConfig(arch="conv", decoder="gaussian"), DataSpec(shape, 10, None))
        x = torch.rand(4, *shape)
        stepper = Stepper(m.configure_optimizers())
        out = m.training_step(Batch(x, torch.zeros(4, dtype=torch.long)), stepper)
        assert torch.isfinite(out["loss"])
        assert m.sample(3).shape == (3, *shape)


def test_categorical_decoder_needs_discrete_data():
    with pytest.raises(UserError, match="discrete"):
        build_model("vae", VAEConfig(decoder="categorical"), DataSpec((1, 8, 8), 10, None))


def test_iwae_objective_is_the_importance_weighted_bound(digits):
    m = make(digits, iw_samples=7, dropout=0.0)
    x = digits.images[:20]
    torch.manual_seed(5)
    m.elbo_terms(x)  # losses() draws the ELBO's sample first; keep the streams aligned
    lw = m.log_weights(x, None, 7)
    torch.manual_seed(5)
    loss = m.losses(Batch(x, digits.labels[:20]))["loss"]
    assert loss.item() == pytest.approx(-(torch.logsumexp(lw, 0) - math.log(7)).mean().item(), rel=1e-6)


def test_mixture_prior_is_a_density_and_a_one_component_standard_mixture_is_the_normal_prior():
    import math as _math

    from genimg.models.vae.prior import MixturePrior, StandardNormalPrior

    torch.manual_seed(0)
    prior = MixturePrior(1, 3).double()
    grid = torch.linspace(-12, 12, 20001, dtype=torch.float64)[:, None]
    mass = prior.log_prob(grid).exp().sum() * (grid[1, 0] - grid[0, 0])
    assert mass.item() == pytest.approx(1.0, abs=1e-4)
    single = MixturePrior(4, 1)
    with torch.no_grad():
        single.means.zero_()
    z, mu, logvar = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 4)
    torch.testing.assert_close(single.log_prob(z), StandardNormalPrior(4).log_prob(z))
    # the Monte-Carlo KL at z equals log q(z|x) - log N(z; 0, I), whose mean over z ~ q is the closed form
    q = (-0.5 * (z - mu).pow(2) / logvar.exp() - 0.5 * logvar - 0.5 * _math.log(2 * _math.pi)).sum(1)
    torch.testing.assert_close(single.kl(mu, logvar, z), q - StandardNormalPrior(4).log_prob(z))


def test_a_vae_with_a_mixture_prior_trains_samples_and_bounds(digits):
    m = make(digits, prior="mog", prior_components=4, iw_samples=1)
    stepper = Stepper(m.configure_optimizers())
    batch = Batch(digits.images[:100], digits.labels[:100])
    means_before = m.prior.means.detach().clone()
    for _ in range(5):
        m.training_step(batch, stepper)
    assert not torch.equal(m.prior.means, means_before)  # the prior learns
    assert m.sample(6).shape == (6, 1, 8, 8)
    bounds = m.log_likelihood(digits.images[:8], k=20)
    assert (bounds["iw"] >= bounds["elbo"] - 1e-4).all()
    assert not m.latent_space().per_dimension  # its coordinates have no N(0, 1) prior each


def test_sampler_config_is_checked():
    with pytest.raises(UserError, match="model.sampler must be one of prior, gmm"):
        VAEConfig(sampler="flow")
    with pytest.raises(UserError, match="gmm_components"):
        VAEConfig(sampler="gmm", gmm_components=0)
    with pytest.raises(UserError, match="gmm_codes"):
        VAEConfig(sampler="gmm", gmm_components=10, gmm_codes=5)
    assert VAEConfig().sampler == "prior"  # the default draws from p(z), as before


def test_gmm_sampler_fits_the_training_codes_and_samples_near_them(digits):
    m = make(digits, sampler="gmm", gmm_components=3, gmm_codes=150, dropout=0.0)
    assert m.sample(4).shape == (4, 1, 8, 8)  # before training there are no codes: the prior stands in
    stepper = Stepper(m.configure_optimizers())
    for start in (0, 100):  # two batches of 100 into a ring of 150: the oldest 50 are overwritten
        with torch.no_grad():
            means, _ = m.encode(digits.images[start : start + 100])  # what this step's encoder makes of them
        m.training_step(Batch(digits.images[start : start + 100], digits.labels[start : start + 100]), stepper)
    density = m.code_density
    assert int(density.codes_seen) == 200 and density.recorded == 150
    torch.testing.assert_close(density.codes[:50], means[50:])  # slots 0-49 hold the newest 50 codes
    torch.testing.assert_close(density.codes[100:], means[:50])  # slots 100-149 the first half of that batch
    m.eval()
    validation = m.losses(Batch(digits.images[:10], digits.labels[:10]))  # eval mode records nothing
    assert validation["loss"].isfinite() and int(density.codes_seen) == 200
    torch.manual_seed(0)
    z = m.draw_codes(2000)
    assert int(density.fitted_on) == 200  # fitted on first use, once per set of codes
    codes = density.codes.double()
    torch.testing.assert_close(z.double().mean(0), codes.mean(0), atol=0.1 * codes.std(0).max(), rtol=0)
    tighter = m.draw_codes(2000, temperature=0.1)
    assert (tighter - density.means[:, None]).norm(dim=-1).min(0).values.mean() < z.std(0).mean()


def test_gmm_sampler_reproduces_from_a_saved_run(tmp_path):
    from conftest import quick_overrides
    from genimg.config.run_config import apply_overrides, default_config
    from genimg.train import load_model, train

    config = apply_overrides(
        default_config("vae"),
        quick_overrides(tmp_path, epochs=2, sampler="gmm", gmm_components=4, gmm_codes=512, likelihood_at_end="false"),
    )
    result = train(config, quiet=True)
    first, second = load_model(result.run.path), load_model(result.run.path)
    saved = first.code_density
    assert int(saved.fitted_on) == int(saved.codes_seen) > 0  # the checkpoint holds its fitted mixture
    torch.manual_seed(7)
    a = first.sample(16)
    torch.manual_seed(7)
    b = second.sample(16)
    assert torch.equal(a, b)
    # the loaded mixture is the one saved, not refitted: the same as fitting its codes again
    refit = load_model(result.run.path)
    refit.code_density.fitted_on.fill_(-1)
    refit.code_density.fit_if_stale()
    torch.testing.assert_close(refit.code_density.means, saved.means)


def test_mnist_sample_preset_samples_from_the_fitted_mixture_and_the_others_from_the_prior():
    from genimg.config.run_config import default_config

    recipe = default_config("vae", "mnist-sample").model
    assert (recipe.sampler, recipe.latent_dim, recipe.prior, recipe.temperature) == ("gmm", 16, "normal", 0.8)
    assert default_config("vae", "mnist").model.prior == "mog"  # the full MNIST keeps its recipe
    for dataset in ("digits", "mnist", "cifar10"):
        model = default_config("vae", dataset).model
        assert (model.sampler, model.temperature) == ("prior", 1.0)
