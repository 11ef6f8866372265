"""Diffusion family: schedules, prediction conversions, samplers against diffusers, the
variational bound's pieces against independent formulas, conditioning, EMA, training."""

from __future__ import annotations

import math

import pytest
import torch

from genimg.config.families import get_family
from genimg.data import load_dataset
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import Batch, build_model
from genimg.models.diffusion.config import DiffusionConfig
from genimg.models.diffusion.likelihood import discretized_gaussian_log_likelihood, normal_kl, variational_bound
from genimg.models.diffusion.model import DiffusionModel
from genimg.models.diffusion.samplers import DDIMSampler, DDPMSampler, DPMSolverSampler, spaced_timesteps
from genimg.models.diffusion.schedules import NoiseSchedule, convert, target, x0_and_eps
from genimg.models.diffusion.unet import UNet, resolutions_for
from genimg.models.stepper import Stepper

DIGITS = DataSpec((1, 8, 8), 10, 17)
TINY = dict(channels=8, res_blocks=1, attention=False, norm_groups=4, timesteps=100, warmup_steps=0)


def randomize(module: torch.nn.Module, std: float = 0.2) -> None:
    """Random weights everywhere: the zero-initialised output layers of a fresh U-Net would
    otherwise hide how its output depends on the label or the input."""
    torch.manual_seed(123)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, std)


def tiny_model(spec: DataSpec = DIGITS, **overrides) -> DiffusionModel:
    torch.manual_seed(0)
    return build_model("diffusion", DiffusionConfig(**{**TINY, **overrides}), spec)


# ---------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alphas_cumprod_decrease_from_one_to_nearly_zero(kind):
    s = NoiseSchedule(kind, 1000)
    ab = s.alphas_cumprod
    assert ab.dtype == torch.float64 and ab.shape == (1000,)
    assert torch.all(ab[1:] < ab[:-1])
    assert 0.999 < ab[0] < 1 and 0 < ab[-1] < 1e-4
    assert torch.all((s.betas > 0) & (s.betas <= 0.999))
    # the posterior variance lies between 0 (t = 0) and beta_t
    assert s.posterior_variance[0] == 0 and torch.all(s.posterior_variance[1:] < s.betas[1:])


def test_linear_endpoints_scale_with_T():
    assert NoiseSchedule("linear", 1000).betas[[0, -1]].tolist() == pytest.approx([1e-4, 0.02])
    assert NoiseSchedule("linear", 500).betas[[0, -1]].tolist() == pytest.approx([2e-4, 0.04])


def test_schedules_match_diffusers():
    diffusers = pytest.importorskip("diffusers")
    for ours, theirs in [("linear", "linear"), ("cosine", "squaredcos_cap_v2")]:
        ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=theirs, beta_start=1e-4, beta_end=0.02)
        s = NoiseSchedule(ours, 1000)
        torch.testing.assert_close(s.betas.float(), ref.betas, atol=1e-7, rtol=0)
        torch.testing.assert_close(s.alphas_cumprod.float(), ref.alphas_cumprod, atol=1e-6, rtol=0)


def test_schedule_is_buffers_not_parameters():
    model = tiny_model()
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.startswith("schedule.") for n in names)
    buffers = dict(model.named_buffers())
    assert {"schedule.betas", "schedule.alphas_cumprod"} <= set(buffers)
    assert "schedule.betas" not in model.state_dict()  # rebuilt from the config, not saved
    assert model.ema_parameter_names() is None or not any(
        n.startswith("schedule.") for n in model.ema_parameter_names()
    )


def test_q_sample_statistics():
    s = NoiseSchedule("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1, 1), 0.7)
    for t in (0, 300, 999):
        xt = s.q_sample(x0, torch.full((20000,), t), torch.randn(x0.shape, generator=g))
        ab = s.alphas_cumprod[t].item()
        assert xt.mean().item() == pytest.approx(math.sqrt(ab) * 0.7, abs=0.02)
        assert xt.std().item() == pytest.approx(math.sqrt(1 - ab), rel=0.03, abs=1e-3)


@pytest.mark.parametrize("kind", ["epsilon", "v", "x0"])
def test_prediction_conversions_round_trip(kind):
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(16, 1, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(16, 1, 4, 4, generator=g, dtype=torch.float64)
    ab = torch.rand(16, generator=g, dtype=torch.float64) * 0.98 + 0.01
    a, s = ab.sqrt().view(-1, 1, 1, 1), (1 - ab).sqrt().view(-1, 1, 1, 1)
    xt = a * x0 + s * eps
    out = target(kind, x0, eps, ab)
    rx0, reps = x0_and_eps(kind, out, xt, ab)
    torch.testing.assert_close(rx0, x0, atol=1e-12, rtol=0)
    torch.testing.assert_close(reps, eps, atol=1e-12, rtol=0)
    for other in ("epsilon", "v", "x0"):
        there = convert(out, xt, ab, kind, other)
        torch.testing.assert_close(there, target(other, x0, eps, ab), atol=1e-12, rtol=0)
        torch.testing.assert_close(convert(there, xt, ab, other, kind), out, atol=1e-12, rtol=0)
    if kind == "v":  # Salimans & Ho's definition
        torch.testing.assert_close(out, a * eps - s * x0)


# ---------------------------------------------------------------------------- samplers vs diffusers

PREDICTION_NAMES = {"epsilon": "epsilon", "v": "v_prediction", "x0": "sample"}


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("steps", [1000, 50, 7])
def test_timestep_spacing_matches_diffusers(spacing, steps):
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing)
    ref.set_timesteps(steps)
    assert spaced_timesteps(1000, steps, spacing).tolist() == ref.timesteps.tolist()


def _reference(cls, schedule: NoiseSchedule, prediction: str, steps: int, spacing: str, **kw):
    """A diffusers scheduler with our betas; its alphas_cumprod set to ours (float64), so that
    the comparison is between the two update formulas, not two float32 roundings of a product."""
    ref = cls(
        num_train_timesteps=schedule.timesteps,
        trained_betas=schedule.betas.numpy(),
        prediction_type=PREDICTION_NAMES[prediction],
        timestep_spacing=spacing,
        **kw,
    )
    ref.alphas_cumprod = schedule.alphas_cumprod.clone()
    ref.set_timesteps(steps)
    return ref


@pytest.mark.parametrize("prediction", ["epsilon", "v", "x0"])
@pytest.mark.parametrize("steps,spacing", [(1000, "leading"), (1000, "linspace"), (50, "leading")])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim_step_matches_diffusers(prediction, steps, spacing, eta):
    diffusers = pytest.importorskip("diffusers")
    schedule = NoiseSchedule("linear", 1000)
    ref = _reference(diffusers.DDIMScheduler, schedule, prediction, steps, spacing)
    ours = DDIMSampler(schedule, prediction, steps, spacing, eta=eta)
    assert ours.timesteps.tolist() == ref.timesteps.tolist()
    g = torch.Generator().manual_seed(2)
    for t in ref.timesteps[[0, 1, len(ref.timesteps) // 2, -1]].tolist():
        x, out, z = (torch.randn(8, 1, 8, 8, generator=g, dtype=torch.float64) for _ in range(3))
        expected = ref.step(out, t, x, eta=eta, variance_noise=z).prev_sample
        torch.testing.assert_close(ours.step(out, t, x, noise=z), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("prediction", ["epsilon", "v", "x0"])
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("schedule_kind,steps", [("linear", 1000), ("cosine", 1000), ("cosine", 50)])
def test_ddpm_step_matches_diffusers(prediction, variance, schedule_kind, steps):
    diffusers = pytest.importorskip("diffusers")
    schedule = NoiseSchedule(schedule_kind, 1000)
    ref = _reference(diffusers.DDPMScheduler, schedule, prediction, steps, "leading", variance_type=variance)
    ours = DDPMSampler(schedule, prediction, steps, "leading", variance=variance)
    g = torch.Generator().manual_seed(3)
    for t in ref.timesteps[[0, 1, len(ref.timesteps) // 2, -1]].tolist():
        x, out = (torch.randn(8, 1, 8, 8, generator=g, dtype=torch.float64) for _ in range(2))
        expected = ref.step(out, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        got = ours.step(out, t, x, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("schedule_kind,steps", [("linear", 50), ("cosine", 20), ("cosine", 1)])
def test_dpm_solver_chain_matches_diffusers(prediction, schedule_kind, steps):
    """A whole DPM-Solver++(2M) chain with a fixed nonlinear "network", twice over (the second
    chain must not inherit the first one's history), against diffusers' multistep scheduler."""
    diffusers = pytest.importorskip("diffusers")
    schedule = NoiseSchedule(schedule_kind, 1000)
    ref = _reference(diffusers.DPMSolverMultistepScheduler, schedule, prediction, steps, "trailing")
    ours = DPMSolverSampler(schedule, prediction, steps, "trailing", clip=False)
    assert ours.timesteps.tolist() == ref.timesteps.tolist()

    def network(x: torch.Tensor, t: int) -> torch.Tensor:
        return torch.tanh(x * (1 + t / 1000)) + 0.1 * x.flip(-1)

    x_start = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for _ in range(2):
        x_ref, x_ours = x_start.clone(), x_start.clone()
        ref.set_timesteps(steps)
        for t in ref.timesteps.tolist():
            x_ref = ref.step(network(x_ref, t), t, x_ref).prev_sample.double()
            x_ours = ours.step(network(x_ours, t), t, x_ours)
            # diffusers steps in float32 (sample and sigmas), and x0 = (x - sigma eps) / alpha
            # magnifies that rounding by 1 / alpha (up to ~150) at the noisy end of the chain
            torch.testing.assert_close(x_ours, x_ref, atol=1e-4, rtol=1e-4)


def test_ddpm_last_step_adds_no_noise_and_others_do():
    schedule = NoiseSchedule("linear", 100)
    sampler = DDPMSampler(schedule)
    x, out = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    a = sampler.step(out, 0, x, generator=torch.Generator().manual_seed(0))
    b = sampler.step(out, 0, x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    c = sampler.step(out, 50, x, generator=torch.Generator().manual_seed(0))
    d = sampler.step(out, 50, x, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(c, d)


def test_bad_sampler_options_are_user_errors():
    schedule = NoiseSchedule("linear", 100)
    with pytest.raises(UserError, match="steps"):
        DDIMSampler(schedule, steps=101)
    with pytest.raises(UserError, match="spacing"):
        DDIMSampler(schedule, steps=10, spacing="sideways")
    with pytest.raises(UserError, match="variance"):
        DDPMSampler(schedule, variance="learned")
    with pytest.raises(UserError, match="schedule"):
        DiffusionConfig(schedule="quadratic")
    with pytest.raises(UserError, match="prediction"):
        DiffusionConfig(prediction="score")


# ---------------------------------------------------------------------------- likelihood pieces


def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(4)
    m1, m2 = torch.randn(100, generator=g, dtype=torch.float64), torch.randn(100, generator=g, dtype=torch.float64)
    lv1, lv2 = torch.randn(100, generator=g, dtype=torch.float64), torch.randn(100, generator=g, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, (0.5 * lv1).exp()), torch.distributions.Normal(m2, (0.5 * lv2).exp())
    )
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("levels", [17, 256, 2])
def test_discretized_gaussian_matches_normal_cdf(levels):
    g = torch.Generator().manual_seed(5)
    k = torch.randint(0, levels, (2000,), generator=g)
    k[:3] = torch.tensor([0, levels - 1, levels // 2])
    x = k.double() / (levels - 1) * 2 - 1
    mean = torch.rand(2000, generator=g, dtype=torch.float64) * 2.4 - 1.2
    log_scale = torch.rand(2000, generator=g, dtype=torch.float64) * 3 - 3.5
    normal = torch.distributions.Normal(mean, log_scale.exp())
    half = 1 / (levels - 1)
    upper = torch.where(k == levels - 1, torch.ones_like(x), normal.cdf(x + half))
    lower = torch.where(k == 0, torch.zeros_like(x), normal.cdf(x - half))
    expected = (upper - lower).log()
    # Compare where the reference's differences of two CDFs near 1 still have the digits
    # (a mass above e^-20); in the far tails ours stays accurate and the reference does not.
    ok = expected > -20
    assert ok.float().mean() > 0.5
    got = discretized_gaussian_log_likelihood(x, mean, log_scale, levels)
    torch.testing.assert_close(got[ok], expected[ok], atol=1e-7, rtol=1e-6)
    assert torch.isfinite(got).all()


def test_discretized_gaussian_is_a_distribution_and_stable_when_narrow():
    levels = 17
    grid = torch.linspace(-1, 1, levels, dtype=torch.float64)
    for mean, log_scale in [(0.3, -1.0), (-0.97, -0.5), (0.0, -6.0)]:
        logp = discretized_gaussian_log_likelihood(grid, torch.tensor(mean), torch.tensor(log_scale), levels)
        assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-12)
    # a narrow Gaussian centred on a bin: log-mass ~ 0 in the middle, at the edges, and far out finite
    narrow = discretized_gaussian_log_likelihood(grid, grid, torch.full_like(grid, math.log(0.007)), levels)
    assert narrow.abs().max() < 1e-12
    far = discretized_gaussian_log_likelihood(
        torch.tensor([0.5]), torch.tensor([-0.5]), torch.tensor([math.log(0.007)]), levels
    )
    assert torch.isfinite(far).all() and far.item() < -1000


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_bound_with_an_oracle_denoiser_matches_closed_form(variance):
    """A denoiser that knows x_0 makes every mean gap zero, so each term has a closed form:
    L_T and the variance mismatch per step are analytic, L_0 is a Normal CDF mass."""
    schedule = NoiseSchedule("linear", 50)
    levels = 17
    g = torch.Generator().manual_seed(6)
    x0 = torch.randint(0, levels, (5, 1, 4, 4), generator=g).float() / (levels - 1) * 2 - 1
    # The labels carry each row's image index, so the oracle can hand back its clean image.
    index = torch.arange(x0.shape[0])
    terms = variational_bound(
        lambda x_t, t, rows: x0[rows], schedule, x0, index, levels, variance=variance, max_batch=7
    )
    D = x0[0].numel()
    ab_T = schedule.alphas_cumprod[-1]
    prior = (
        torch.distributions.kl_divergence(
            torch.distributions.Normal(ab_T.sqrt() * x0.double(), (1 - ab_T).sqrt()),
            torch.distributions.Normal(0.0, 1.0),
        )
        .flatten(1)
        .sum(1)
    )
    torch.testing.assert_close(terms["prior"], prior)
    beta_tilde, beta = schedule.posterior_variance[1:], schedule.betas[1:]
    sigma2 = beta_tilde if variance == "fixed_small" else beta
    per_pixel = 0.5 * (sigma2.log() - beta_tilde.log() + beta_tilde / sigma2 - 1)
    torch.testing.assert_close(terms["diffusion"], torch.full((5,), float(per_pixel.sum() * D), dtype=torch.float64))
    std = schedule.posterior_variance[1].sqrt()
    normal = torch.distributions.Normal(x0.double(), std)
    half = 1 / (levels - 1)
    upper = torch.where(x0 >= 1, torch.ones_like(x0.double()), normal.cdf(x0.double() + half))
    lower = torch.where(x0 <= -1, torch.zeros_like(x0.double()), normal.cdf(x0.double() - half))
    decoder = -(upper - lower).log().flatten(1).sum(1)
    torch.testing.assert_close(terms["decoder"], decoder)
    torch.testing.assert_close(terms["vlb"], -(prior + terms["diffusion"] + decoder))


# ---------------------------------------------------------------------------- the network


@pytest.mark.parametrize("size,expected", [(8, [8, 4]), (28, [28, 14, 7]), (32, [32, 16, 8]), (64, [64, 32, 16, 8])])
def test_resolutions_follow_image_size(size, expected):
    assert resolutions_for(size) == expected


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_larger_images_forward_and_train(shape):
    spec = DataSpec(shape, 10, None)
    model = tiny_model(spec, conditional=True)
    assert len(model.net.channel_mult) == 3
    opt = model.configure_optimizers()
    stepper = Stepper(opt)
    g = torch.Generator().manual_seed(7)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):
        batch = Batch(torch.rand(4, *shape, generator=g), torch.randint(0, 10, (4,), generator=g))
        out = model.training_step(batch, stepper)
        assert torch.isfinite(torch.as_tensor(out["loss"]))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    images = model.sample(3, labels=torch.tensor([0, 1, 2]), sampler="ddim", steps=2, progress=False)
    assert images.shape == (3, *shape) and images.min() >= 0 and images.max() <= 1


def test_unet_output_shape_and_null_class():
    net = UNet(1, 8, channels=8, res_blocks=1, num_classes=10, groups=4)
    x, t = torch.randn(5, 1, 8, 8), torch.randint(0, 100, (5,))
    randomize(net)
    assert net(x, t).shape == x.shape
    torch.testing.assert_close(net(x, t, None), net(x, t, torch.full((5,), 10)))
    assert not torch.allclose(net(x, t, torch.zeros(5, dtype=torch.long)), net(x, t, None))


# ---------------------------------------------------------------------------- conditioning


def test_label_dropout_replaces_labels_by_the_null_class():
    model = tiny_model(conditional=True, label_dropout=0.3)
    seen = []
    forward = model.net.forward
    model.net.forward = lambda x, t, labels=None: (seen.append(labels.clone()), forward(x, t, labels))[1]
    torch.manual_seed(1)
    model.loss(torch.rand(2000, 1, 8, 8), torch.randint(0, 10, (2000,)))
    labels = seen[0]
    assert (labels == 10).float().mean().item() == pytest.approx(0.3, abs=0.04)
    assert labels.max() == 10 and labels.min() == 0


def test_a_seeded_conditional_sample_draws_its_labels_from_the_seed():
    model = tiny_model(conditional=True)
    seen = []
    forward = model.net.forward
    model.net.forward = lambda x, t, labels=None: (seen.append(labels.clone()), forward(x, t, labels))[1]

    def draw() -> torch.Tensor:
        images = model.sample(200, sampler="ddim", steps=1, progress=False, generator=torch.Generator().manual_seed(3))
        torch.rand(7)  # the global stream moves on between the two draws
        return images

    assert torch.equal(draw(), draw())
    assert torch.equal(seen[0], seen[1])
    counts = torch.bincount(seen[0], minlength=11)
    assert counts[10] == 0 and counts[:10].min() > 5  # uniform over the ten classes, never the null one


def test_guidance_combines_conditional_and_unconditional_outputs():
    model = tiny_model(conditional=True)
    randomize(model.net)
    x, y = torch.randn(6, 1, 8, 8), torch.arange(6)
    with torch.no_grad():
        cond = model.net(x, torch.full((6,), 40), y)
        uncond = model.net(x, torch.full((6,), 40), torch.full((6,), 10))
        for w in (0.0, 1.0, 3.0):
            torch.testing.assert_close(
                model.model_output(x, 40, y, guidance=w), uncond + w * (cond - uncond), atol=1e-5, rtol=1e-5
            )


def test_sample_by_label_and_guards():
    model = tiny_model(conditional=True)
    images = model.sample(5, labels=3, sampler="ddim", steps=3, guidance=2.0, progress=False)
    assert images.shape == (5, 1, 8, 8) and images.dtype == torch.float32
    with pytest.raises(UserError):
        model.sample(2, labels=torch.tensor([0, 12]), sampler="ddim", steps=2, progress=False)
    plain = tiny_model()
    with pytest.raises(UserError, match="guidance"):
        plain.sample(2, guidance=3.0, sampler="ddim", steps=2, progress=False)
    with pytest.raises(UserError, match="conditional"):
        plain.sample(2, labels=1, sampler="ddim", steps=2, progress=False)


def test_samples_are_quantised_to_the_data_levels_by_default():
    model = tiny_model()
    randomize(model.net, 0.05)
    noise = torch.randn(6, 1, 8, 8)
    raw = model.sample(6, noise=noise, sampler="ddim", steps=4, quantize=False, progress=False)
    snapped = model.sample(6, noise=noise, sampler="ddim", steps=4, progress=False)
    torch.testing.assert_close(snapped, torch.round(raw * 16) / 16)
    assert not torch.equal(raw, snapped)
    continuous = tiny_model(DataSpec((1, 8, 8), 10, None))
    randomize(continuous.net, 0.05)
    assert not torch.equal(
        continuous.sample(6, noise=noise, sampler="ddim", steps=4, progress=False) * 16 % 1, torch.zeros(6, 1, 8, 8)
    )


def test_sampling_is_reproducible_with_a_generator():
    model = tiny_model()
    randomize(model.net, 0.05)
    a = model.sample(4, sampler="ddpm", steps=10, progress=False, generator=torch.Generator().manual_seed(0))
    b = model.sample(4, sampler="ddpm", steps=10, progress=False, generator=torch.Generator().manual_seed(0))
    c = model.sample(4, sampler="ddpm", steps=10, progress=False, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # batching does not change what each image is
    noise = torch.randn(4, 1, 8, 8)
    whole = model.sample(4, sampler="ddim", steps=5, noise=noise, progress=False)
    split = model.sample(4, sampler="ddim", steps=5, noise=noise, progress=False, batch_size=3)
    torch.testing.assert_close(whole, split)


# ---------------------------------------------------------------------------- EMA


def test_trainer_ema_copies_the_schedule_and_averages_weights():
    from genimg.train.ema import EMA

    model = tiny_model()
    ema = EMA(model, 0.9, model.ema_parameter_names())
    assert not any(n.startswith("schedule.") for n in ema.names)
    stepper = Stepper(model.configure_optimizers())
    before = model.net.out[2].weight.detach().clone()
    model.training_step(Batch(torch.rand(8, 1, 8, 8), torch.zeros(8, dtype=torch.long)), stepper)
    after = model.net.out[2].weight.detach()
    assert not torch.equal(before, after)
    model.schedule.betas.mul_(2)  # a buffer that changed: the EMA must follow it, not average it
    ema.update(model)
    torch.testing.assert_close(ema.module.schedule.betas, model.schedule.betas, atol=0, rtol=0)
    torch.testing.assert_close(ema.module.net.out[2].weight, 0.9 * before + 0.1 * after)


def test_power_ema_follows_edm2_and_resumes_exactly(tmp_path):
    """EDM2's power-function EMA: gamma from sigma_rel as in their code, decay (1 - 1/n)^(gamma + 1)
    (the first update copies the weights); a trained run resumed halfway ends with the same EMA."""
    from safetensors.torch import load_file

    from conftest import quick_overrides
    from genimg.train import apply_overrides, default_config, resume_config, train
    from genimg.train.ema import EMA, power_ema_gamma

    for sigma_rel, gamma in ((0.05, 16.97), (0.10, 6.94)):
        assert power_ema_gamma(sigma_rel) == pytest.approx(gamma, abs=0.01)
        g = power_ema_gamma(sigma_rel)  # the profile's width, t^gamma on [0, 1], is sigma_rel
        assert math.sqrt((g + 1) / ((g + 2) ** 2 * (g + 3))) == pytest.approx(sigma_rel)
    model = tiny_model()
    ema = EMA(model, None, model.ema_parameter_names(), sigma_rel=0.1)
    assert ema.decay_at(1) == 0 and ema.decay_at(100) == pytest.approx(0.99 ** (1 + power_ema_gamma(0.1)))
    with pytest.raises(ValueError, match="update count"):
        ema.update(model)

    extra = ["channels=8", "attention=false", "norm_groups=4", "timesteps=50", "warmup_steps=5", "ema_sigma_rel=0.1"]
    extra += ["select_by=last", "fid_every=0", "sample_every=0", "data.limit=64", "batch_size=32"]

    def config(name, epochs):
        return apply_overrides(default_config("diffusion"), quick_overrides(tmp_path, name, epochs=epochs) + extra)

    full = train(config("full", 4), quiet=True).run
    half = train(config("half", 2), quiet=True).run
    train(resume_config(half.path, ["epochs=4"]), resume=half.path, quiet=True)
    a = load_file(str(full.checkpoint("last") / "ema.safetensors"))
    b = load_file(str(half.checkpoint("last") / "ema.safetensors"))
    raw = load_file(str(full.checkpoint("last") / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], raw[k]) for k in a)


# ---------------------------------------------------------------------------- training and the bound


@pytest.fixture(scope="module")
def trained():
    """A tiny model before and after ~150 updates on digits (a few seconds)."""
    data = load_dataset("digits", "train")
    model = tiny_model(DataSpec.of(data), channels=16, lr=2e-3)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    stepper = Stepper(model.configure_optimizers(), grad_clip=1.0)
    losses = []
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    for _ in range(150):
        idx = torch.randint(0, len(data), (64,), generator=g)
        losses.append(float(model.training_step(Batch(data.images[idx], data.labels[idx]), stepper)["loss"]))
    model.eval()
    fresh = tiny_model(DataSpec.of(data), channels=16)
    fresh.load_state_dict(initial)
    return {"model": model, "fresh": fresh.eval(), "losses": losses, "test": load_dataset("digits", "test")}


def test_training_reduces_the_loss(trained):
    losses = trained["losses"]
    assert sum(losses[-20:]) / 20 < 0.6 * sum(losses[:10]) / 10
    val = load_dataset("digits", "val")
    batch = Batch(val.images[:200], val.labels[:200])
    assert trained["model"].validation_step(batch)["loss"] < trained["fresh"].validation_step(batch)["loss"]


def test_likelihood_is_finite_per_image_and_improves_with_training(trained):
    x = trained["test"].images[:16]
    before = trained["fresh"].log_likelihood(x, generator=torch.Generator().manual_seed(0))["vlb"]
    result = trained["model"].log_likelihood(x, generator=torch.Generator().manual_seed(0), return_terms=True)
    after = result["vlb"]
    assert after.shape == (16,) and torch.isfinite(after).all() and torch.isfinite(before).all()
    assert (after < 0).all()  # a bound on a probability of a discrete image
    assert after.mean() > before.mean() + 10  # nats per image
    torch.testing.assert_close(after, -(result["prior_kl"] + result["diffusion_kl"] + result["decoder_nll"]))
    assert (
        (result["prior_kl"] >= 0).all() and (result["diffusion_kl"] >= 0).all() and (result["decoder_nll"] >= 0).all()
    )
    # the strided version is labelled an estimate and lands near the bound
    estimate = trained["model"].log_likelihood(x, t_stride=10, generator=torch.Generator().manual_seed(0))
    assert set(estimate) == {"vlb_estimate"}
    assert estimate["vlb_estimate"].mean().item() == pytest.approx(after.mean().item(), rel=0.25)


def test_likelihood_batching_does_not_change_the_bound(trained):
    model = trained["model"]
    x = trained["test"].images[:3]
    a = model.log_likelihood(x, generator=torch.Generator().manual_seed(1), max_batch=1000)["vlb"]
    # the same (image, timestep) pairs in other chunk sizes draw other noise: compare the means loosely
    b = model.log_likelihood(x, generator=torch.Generator().manual_seed(1), max_batch=37)["vlb"]
    assert torch.isfinite(b).all() and abs(a.mean() - b.mean()) < 0.1 * abs(a.mean())


def test_ddim_inversion_round_trip(trained):
    model = trained["model"]
    x = trained["test"].images[:8]
    errors = {}
    for steps in (5, 50):
        z = model.ddim_invert(x, steps=steps)
        assert z.shape == x.shape
        back = model.sample(
            8, noise=z, sampler="ddim", steps=steps, eta=0.0, clip=False, quantize=False, progress=False
        )
        errors[steps] = (back - x).abs().mean().item()
    assert errors[50] < 0.05 and errors[50] < errors[5]
    # the code is near a standard normal draw, not the image
    z = model.ddim_invert(x, steps=50)
    assert 0.5 < z.std().item() < 1.5


def test_family_is_registered_with_defaults():
    family = get_family("diffusion")
    assert family.model_class() is DiffusionModel and family.config_cls is DiffusionConfig
    assert family.train_defaults["ema_decay"]  # sampling uses the EMA by default


def test_fid_during_training_samples_with_the_fast_monitor_sampler(monkeypatch):
    """The trainer's FID every K epochs must not run 1000-step ancestral sampling."""
    from genimg.evaluate import evaluator

    model = tiny_model(monitor_sampler="ddim", monitor_steps=7)
    calls = []
    original = model.make_sampler

    def spy(sampler=None, steps=None, *args, **kwargs):
        chain = original(sampler, steps, *args, **kwargs)
        calls.append((type(chain).__name__, len(chain)))
        return chain

    monkeypatch.setattr(model, "make_sampler", spy)
    monitor = evaluator.TrainingEvaluator.__new__(evaluator.TrainingEvaluator)
    monitor.n = 20
    monitor.extractor = type(
        "Flat",
        (),
        {
            "features_and_probabilities": staticmethod(
                lambda x: (x.flatten(1).double(), torch.eye(10)[torch.arange(len(x)) % 10])
            )
        },
    )()
    monitor.real_features = torch.rand(30, 64, dtype=torch.float64)
    scores = monitor(model)
    assert calls == [("DDIMSampler", 7)]
    assert math.isfinite(scores["fid"]) and scores["class_entropy"] == pytest.approx(math.log(10))
    with pytest.raises(UserError, match="monitor_sampler"):
        DiffusionConfig(monitor_sampler="euler")
    with pytest.raises(UserError, match="monitor_steps"):
        DiffusionConfig(timesteps=100, monitor_steps=500)


@pytest.mark.parametrize("prediction", ["epsilon", "v", "x0"])
def test_denoiser_snaps_x0_to_the_grey_levels_only_at_low_noise(prediction):
    model = tiny_model(prediction=prediction, snap_x0=0.3)
    randomize(model.net, 0.05)
    schedule = model.schedule
    level_step = 2 / 16
    noise_ratio = ((1 - schedule.alphas_cumprod) / schedule.alphas_cumprod).sqrt()
    low = int((noise_ratio < 0.3 * level_step).nonzero().max())  # the last snapped timestep
    assert 0 <= low < model.config.timesteps - 1
    x0 = torch.rand(6, 1, 8, 8) * 2 - 1
    for t in (0, low, low + 1, 50):
        ts = torch.full((6,), t)
        x_t = schedule.q_sample(x0, ts, torch.randn_like(x0))
        raw = model.model_output(x_t, ts)
        out = model.denoiser_output(x_t, ts)
        if t > low:
            assert torch.equal(out, raw)
            continue
        snapped, _ = x0_and_eps(prediction, out, x_t, schedule.alpha_bar(ts))
        expected, _ = x0_and_eps(prediction, raw, x_t, schedule.alpha_bar(ts))
        expected = torch.round((expected.clamp(-1, 1) + 1) / level_step) * level_step - 1
        torch.testing.assert_close(snapped, expected, atol=1e-4, rtol=0)
    # continuous data (no grey levels) and snap_x0=0 leave the network's output alone
    for m in (tiny_model(DataSpec((1, 8, 8), 10, None)), tiny_model(snap_x0=0.0)):
        randomize(m.net, 0.05)
        x_t = torch.randn(3, 1, 8, 8)
        assert torch.equal(m.denoiser_output(x_t, 0), m.model_output(x_t, 0))
    with pytest.raises(UserError, match="snap_x0"):
        DiffusionConfig(snap_x0=1.5)


def test_min_snr_weighting_follows_hang_et_al():
    """w = min(SNR, gamma) / SNR for epsilon, / (SNR + 1) for v, min(SNR, gamma) for x0; without
    gamma the loss is the plain MSE it always was."""
    from genimg.models.diffusion.schedules import min_snr_weight

    schedule = NoiseSchedule("cosine", 100)
    alpha_bar = schedule.alpha_bar(torch.arange(100))
    snr = alpha_bar / (1 - alpha_bar)
    torch.testing.assert_close(min_snr_weight(alpha_bar, "epsilon", 5.0), (snr.clamp(max=5) / snr).float())
    torch.testing.assert_close(min_snr_weight(alpha_bar, "v", 5.0), (snr.clamp(max=5) / (snr + 1)).float())
    torch.testing.assert_close(min_snr_weight(alpha_bar, "x0", 5.0), snr.clamp(max=5).float())
    model = tiny_model()
    images = torch.rand(6, 1, 8, 8)
    plain = model.loss(images, None, generator=torch.Generator().manual_seed(3))
    model.config.min_snr_gamma = 1e9  # every weight 1 for epsilon: the same number
    weighted = model.loss(images, None, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(weighted, plain, rtol=1e-5, atol=1e-7)


def test_lognormal_timestep_sampling_draws_edm_noise_levels(monkeypatch):
    """timestep_sampling=lognormal: ln sigma ~ N(mean, std) rounded to the nearest timestep, so the
    drawn timesteps' median noise level is exp(mean); uniform stays the draw it always was."""
    schedule = NoiseSchedule("cosine", 1000)
    sigma = ((1 - schedule.alphas_cumprod) / schedule.alphas_cumprod).sqrt()
    assert schedule.nearest_timestep(sigma[[0, 17, 999]].log()).tolist() == [0, 17, 999]
    model = tiny_model(timesteps=1000, timestep_sampling="lognormal", lognormal_mean=-1.2, lognormal_std=1.2)
    drawn = []
    monkeypatch.setattr(model.net, "forward", lambda x, t, labels=None: drawn.append(t) or torch.zeros_like(x))
    model.loss(torch.rand(4000, 1, 8, 8), None, generator=torch.Generator().manual_seed(0))
    median = sigma[torch.cat(drawn)].log().median()
    assert median == pytest.approx(-1.2, abs=0.05)
    with pytest.raises(UserError, match="timestep_sampling"):
        DiffusionConfig(timestep_sampling="beta")


def test_compiled_sampling_falls_back_with_one_line_where_torch_compile_fails(monkeypatch, capsys):
    model = tiny_model()

    def broken_compile(module, *args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken_compile)
    plain = model.sample(3, sampler="ddim", steps=3, generator=torch.Generator().manual_seed(0), progress=False)
    compiled = model.sample(
        3, sampler="ddim", steps=3, generator=torch.Generator().manual_seed(0), progress=False, compile=True
    )
    assert torch.equal(plain, compiled)
    assert capsys.readouterr().err.strip().splitlines() == [
        "genimg: torch.compile is unavailable here (RuntimeError); sampling uncompiled"
    ]
    assert "_compiled" not in "".join(model.state_dict())


def test_mnist_sample_preset_is_the_measured_recipe_and_full_mnist_keeps_its_own():
    from genimg.config.run_config import default_config

    recipe = default_config("diffusion", "mnist-sample")
    model = recipe.model
    assert (model.channels, model.prediction, model.min_snr_gamma, model.sampler, model.sample_steps) == (
        16,
        "v",
        5,
        "dpmpp2m",
        50,
    )
    assert model.conditional and model.guidance == 1.0  # labels drawn uniformly, 50 network evaluations
    assert (recipe.train.ema_sigma_rel, recipe.train.fid_every) == (0.1, 20)
    full = default_config("diffusion", "mnist")
    assert (full.model.channels, full.model.prediction, full.model.sampler, full.train.ema_sigma_rel) == (
        32,
        "epsilon",
        "ddpm",
        None,
    )
