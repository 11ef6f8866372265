import math

import pytest
import torch
from torch import nn

from genimg.config.families import get_family
from genimg.config.run_config import apply_overrides, default_config, resolve_key
from genimg.data import load_dataset
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import Batch, build_model
from genimg.models.dcgan.config import DCGANConfig
from genimg.models.dcgan.networks import random_translate, stage_sizes
from genimg.models.stepper import Stepper


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train")


def make(spec, **kw):
    torch.manual_seed(0)
    return build_model("dcgan", DCGANConfig(**kw), spec)


def small(digits, **kw):
    return make(DataSpec.of(digits), latent_dim=8, g_features=8, d_features=8, **kw)


class RecordingStepper(Stepper):
    """A real Stepper that also records which optimiser stepped, and D's weights around each G update."""

    def __init__(self, model):
        super().__init__(model.configure_optimizers())
        self.model = model
        self.calls: list[str] = []
        self.d_changed_by_g_step = False

    def step(self, name, loss):
        before = [p.detach().clone() for p in self.model.discriminator.parameters()]
        super().step(name, loss)
        self.calls.append(name)
        if name == "g":
            after = list(self.model.discriminator.parameters())
            self.d_changed_by_g_step |= any(not torch.equal(b, a) for b, a in zip(before, after))


@pytest.mark.parametrize("size, channels", [(8, 1), (28, 1), (32, 1), (8, 3), (28, 3), (32, 3)])
@pytest.mark.parametrize("conditional", [False, True])
def test_shapes_and_output_range(size, channels, conditional):
    m = make(
        DataSpec((channels, size, size), 10, None), latent_dim=16, g_features=8, d_features=8, conditional=conditional
    )
    x = m.sample(5)
    assert x.shape == (5, channels, size, size) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0
    z = torch.randn(4, 16)
    assert m.decode(z, 3 if conditional else None).shape == (4, channels, size, size)
    assert m.discriminator_score(x).shape == (5,)
    assert m.latent_dim == 16


def test_stage_sizes_follow_the_image_size():
    assert stage_sizes(8) == [2, 4, 8]
    assert stage_sizes(28) == [7, 14, 28]
    assert stage_sizes(32) == [4, 8, 16, 32]
    assert stage_sizes(64) == [4, 8, 16, 32, 64]
    with pytest.raises(UserError, match="image size"):
        stage_sizes(7)


def test_generator_grows_through_the_stages(digits):
    m = make(DataSpec((1, 32, 32), 10, None), g_features=8)
    sizes = []
    hooks = [
        layer.register_forward_hook(lambda _m, _i, out: sizes.append(out.shape[-1]))
        for layer in m.generator.net
        if isinstance(layer, nn.ConvTranspose2d)
    ]
    m.sample(2)
    for h in hooks:
        h.remove()
    assert sizes == [4, 8, 16, 32]


def test_dcgan_initialisation_statistics():
    m = make(DataSpec((3, 32, 32), 10, None))
    convs = torch.cat([mod.weight.flatten() for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d))])
    norms = torch.cat([mod.weight for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)])
    shifts = torch.cat([mod.bias for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)])
    assert convs.std().item() == pytest.approx(0.02, rel=0.02) and abs(convs.mean().item()) < 1e-3
    assert norms.mean().item() == pytest.approx(1.0, abs=0.01) and norms.std().item() == pytest.approx(0.02, rel=0.15)
    assert torch.count_nonzero(shifts) == 0
    # BatchNorm everywhere in G, never on D's first layer.
    first_d_layers = list(m.discriminator.net)[:2]
    assert not any(isinstance(layer, nn.BatchNorm2d) for layer in first_d_layers)
    assert isinstance(list(m.generator.net)[-1], nn.Tanh)


def test_training_steps_update_both_networks_and_log_four_scalars(digits):
    m = small(digits)
    g0 = [p.detach().clone() for p in m.generator.parameters()]
    d0 = [p.detach().clone() for p in m.discriminator.parameters()]
    stepper = RecordingStepper(m)
    for i in range(3):
        out = m.training_step(
            Batch(digits.images[i * 32 : (i + 1) * 32], digits.labels[i * 32 : (i + 1) * 32]), stepper
        )
    assert set(out) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert all(torch.isfinite(torch.as_tensor(v)) for v in out.values())
    assert 0 < out["d_real"] < 1 and 0 < out["d_fake"] < 1 and out["loss_d"] > 0 and out["loss_g"] > 0
    assert all(not torch.equal(a, b) for a, b in zip(g0, m.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, m.discriminator.parameters()))
    assert not stepper.d_changed_by_g_step  # the generator update leaves D alone
    assert all(p.requires_grad for p in m.parameters())


def test_discriminator_running_statistics_see_real_images_only(digits):
    # Real and fake batches are normalised separately; the running statistics that the
    # evaluation-mode D uses must describe real images, or D would call real images fake.
    m = small(digits, translate=0.0)  # untranslated, so the expected statistics are those of `real`
    real = digits.images[:32] * 2 - 1
    first_norm = m.discriminator.net[3]
    assert isinstance(first_norm, nn.BatchNorm2d)
    with torch.no_grad():
        expected = first_norm.momentum * m.discriminator.net[:3](real).mean(dim=(0, 2, 3))  # running mean starts at 0
    m.training_step(Batch(digits.images[:32], digits.labels[:32]), RecordingStepper(m))
    assert torch.allclose(first_norm.running_mean, expected, atol=1e-6)
    assert first_norm.momentum == 0.1  # restored after the fake passes


@pytest.mark.parametrize("d_steps", [1, 2, 3])
def test_d_steps_discriminator_updates_per_generator_update(digits, d_steps):
    m = small(digits, d_steps=d_steps)
    stepper = RecordingStepper(m)
    m.training_step(Batch(digits.images[:16], digits.labels[:16]), stepper)
    m.training_step(Batch(digits.images[16:32], digits.labels[16:32]), stepper)
    assert stepper.calls == (["d"] * d_steps + ["g"]) * 2
    adam_steps = {name: {int(s["step"]) for s in opt.state.values()} for name, opt in stepper.optimizers.items()}
    assert adam_steps == {"d": {2 * d_steps}, "g": {2}}


def test_optimisers_split_the_parameters(digits):
    m = small(digits, conditional=True, lr_g=1e-3, lr_d=3e-4, beta1=0.4)
    opts = m.configure_optimizers()
    params = {name: {id(p) for g in opt.param_groups for p in g["params"]} for name, opt in opts.items()}
    assert params["d"].isdisjoint(params["g"]) and params["d"] | params["g"] == {id(p) for p in m.parameters()}
    assert opts["g"].param_groups[0]["lr"] == 1e-3 and opts["d"].param_groups[0]["lr"] == 3e-4
    assert opts["g"].param_groups[0]["betas"] == (0.4, 0.999)
    ema = set(m.ema_parameter_names())
    assert ema == {n for n, p in m.named_parameters() if id(p) in params["g"]}


def test_losses_match_the_binary_cross_entropy_formula(digits):
    m = small(digits, label_smoothing=0.1)
    real, fake = torch.randn(20), torch.randn(20)
    p, q = torch.sigmoid(real), torch.sigmoid(fake)
    expected_d = -(0.9 * p.log() + 0.1 * (1 - p).log()).mean() - (1 - q).log().mean()
    assert m.discriminator_loss(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-5)
    assert m.generator_loss(fake).item() == pytest.approx(-q.log().mean().item(), rel=1e-5)  # non-saturating


def test_hinge_and_relativistic_losses_match_their_formulas(digits):
    real, fake = torch.randn(20), torch.randn(20)
    hinge = small(digits, loss="hinge", d_norm="spectral")
    expected_d = torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean()
    assert hinge.discriminator_loss(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert hinge.generator_loss(fake).item() == pytest.approx(-fake.mean().item(), rel=1e-6)
    rpgan = small(digits, loss="rpgan", d_norm="none")
    # f(t) = -log sigmoid(t) of the paired difference: D wants real above fake, G the reverse
    sigmoid = torch.sigmoid
    assert rpgan.discriminator_loss(real, fake).item() == pytest.approx(
        -sigmoid(real - fake).log().mean().item(), rel=1e-6
    )
    assert rpgan.generator_loss(fake, real).item() == pytest.approx(-sigmoid(fake - real).log().mean().item(), rel=1e-6)


def test_gradient_penalty_is_the_squared_input_gradient():
    from genimg.models.dcgan.losses import gradient_penalty

    # D(x) = sum(w * x^2): its input gradient is 2 w x, so the penalty is the mean of ||2 w x||^2
    w = torch.randn(1, 3, 4, 4, requires_grad=True)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    penalty = gradient_penalty((w * x.pow(2)).flatten(1).sum(1), x)
    expected = (2 * w * x).pow(2).flatten(1).sum(1).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    penalty.backward()  # differentiable in D's weights: d/dw mean_i sum 4 w^2 x_i^2 = mean_i 8 w x_i^2
    torch.testing.assert_close(w.grad, (8 * w * x.pow(2)).mean(0, keepdim=True).detach())


@pytest.mark.parametrize("loss, d_norm, gamma", [("hinge", "spectral", 0.0), ("rpgan", "none", 1.0)])
def test_other_losses_train_both_networks(digits, loss, d_norm, gamma):
    m = small(digits, loss=loss, d_norm=d_norm, penalty_gamma=gamma)
    stepper = RecordingStepper(m)
    g_before = [p.detach().clone() for p in m.generator.parameters()]
    out = m.training_step(Batch(digits.images[:16], digits.labels[:16]), stepper)
    assert stepper.calls == ["d", "g"] and not stepper.d_changed_by_g_step
    assert all(torch.isfinite(torch.as_tensor(v)) for v in out.values())
    assert any(not torch.equal(b, a) for b, a in zip(g_before, m.generator.parameters()))
    assert not any(isinstance(layer, nn.BatchNorm2d) for layer in m.discriminator.modules())


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothing_moves_the_real_target_only(digits, smoothing):
    m = small(digits, label_smoothing=smoothing)
    target = 1 - smoothing
    # The real loss is minimal where D(x) equals the target: its gradient vanishes there.
    real = torch.full((4,), math.log(target / (1 - target)) if smoothing else 30.0, requires_grad=True)
    fake = torch.zeros(4, requires_grad=True)
    m.discriminator_loss(real, fake).backward()
    assert real.grad.abs().max() < 1e-6
    assert fake.grad.allclose(torch.full((4,), 0.5 / 4))  # fake target stays 0: d/dl BCE(l, 0) = sigmoid(l)


def shifted(image, dy, dx, fill):
    """Reference translation: the image moved down by dy and right by dx pixels, border filled."""
    out = torch.full_like(image, fill)
    h, w = image.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def test_random_translate_shifts_each_image_within_range():
    torch.manual_seed(0)
    x = torch.randn(200, 3, 8, 8, requires_grad=True)
    y = random_translate(x, 2, fill=-1.0)
    offsets = set()
    for image, out in zip(x.detach(), y.detach()):
        matches = [
            (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if torch.equal(shifted(image, dy, dx, -1.0), out)
        ]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) == 25  # every offset in [-2, 2]^2 occurs among 200 draws
    y.sum().backward()  # differentiable: each input pixel receives the gradient of the outputs it lands on
    assert x.grad.min() >= 0 and x.grad.max() <= 1 and x.grad.sum() > 0
    assert random_translate(x, 0, fill=-1.0) is x


@pytest.mark.parametrize("translate", [0.0, 0.25])
def test_discriminator_sees_translated_images_only_when_asked(digits, translate):
    m = small(digits, translate=translate)
    seen = []
    hook = m.discriminator.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    batch = Batch(digits.images[:16], digits.labels[:16])
    m.training_step(batch, RecordingStepper(m))
    hook.remove()
    real_seen = seen[0]  # the first D input of a step is the real batch
    assert torch.equal(real_seen, batch.images * 2 - 1) == (translate == 0)
    if translate:
        offsets = range(-2, 3)  # 0.25 of 8 pixels
        assert all(
            any(torch.equal(shifted(x, dy, dx, -1.0), s) for dy in offsets for dx in offsets)
            for x, s in zip(batch.images * 2 - 1, real_seen)
        )


def test_conditional_sampling_by_label(digits):
    m = small(digits, conditional=True)
    assert m.conditional
    x = m.sample(6, labels=3)
    assert x.shape == (6, 1, 8, 8)
    z = torch.randn(5, 8)
    assert not torch.allclose(m.decode(z, 3), m.decode(z, 5))  # the label reaches G
    assert torch.equal(m.decode(z, 3), m.decode(z, torch.full((5,), 3)))
    x = digits.images[:5]
    s3, s5 = m.discriminator_score(x, 3), m.discriminator_score(x, 5)
    assert not torch.allclose(s3, s5)  # the label reaches D
    every = torch.stack([m.discriminator_score(x, k) for k in range(10)], dim=1)
    assert torch.allclose(m.discriminator_score(x), every.amax(dim=1), atol=1e-6)
    with pytest.raises(UserError, match="labels"):
        m.sample(3, labels=10)


def test_unconditional_model_rejects_labels(digits):
    m = small(digits)
    with pytest.raises(UserError, match="conditional=true"):
        m.sample(4, labels=3)
    with pytest.raises(UserError, match="conditional=true"):
        m.decode(torch.randn(4, 8), labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(UserError, match="conditional=true"):
        m.discriminator_score(digits.images[:4], labels=1)


def test_sampling_is_reproducible_and_leaves_training_mode_alone(digits):
    m = small(digits)
    m.train()
    a = m.sample(10, generator=torch.Generator().manual_seed(1))
    b = m.sample(10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and m.training
    assert torch.equal(
        m.sample(10, generator=torch.Generator().manual_seed(1), batch_size=3), a
    )  # batching changes nothing
    # temperature scales z
    z = torch.randn(10, 8, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(m.sample(10, temperature=0.5, generator=torch.Generator().manual_seed(2)), m.decode(0.5 * z))
    with pytest.raises(UserError, match="temperature"):
        m.sample(2, temperature=0)
    with pytest.raises(UserError, match="z must have shape"):
        m.decode(torch.randn(3, 5))


def test_validation_step_has_no_loss_key(digits):
    m = small(digits)
    out = m.validation_step(Batch(digits.images[:16], digits.labels[:16]))
    assert "loss" not in out and set(out) == {"loss_d", "loss_g", "d_real", "d_fake"}


def test_config_checks_and_cli_keys():
    with pytest.raises(UserError, match="label_smoothing"):
        DCGANConfig(label_smoothing=1.0)
    with pytest.raises(UserError, match="d_steps"):
        DCGANConfig(d_steps=0)
    with pytest.raises(UserError, match="loss must be one of bce, hinge, rpgan"):
        DCGANConfig(loss="wasserstein")
    with pytest.raises(UserError, match="penalty_gamma"):
        DCGANConfig(penalty_gamma=-1.0)
    with pytest.raises(UserError, match="d_norm=none"):  # BatchNorm mixes the images' gradients
        DCGANConfig(penalty_gamma=1.0)
    assert DCGANConfig(penalty_gamma=1.0, d_norm="none").loss == "bce"  # the default loss is the paper's
    config = default_config("dcgan")
    assert config.train.select_by == "fid" and config.train.fid_every > 0 and config.train.patience is None
    # every model field is a bare CLI key: none collides with train.* or data.*
    for name in DCGANConfig.__dataclass_fields__:
        assert resolve_key(config, name) == ("model", name)
    config = apply_overrides(config, ["label_smoothing=0.1", "d_steps=2", "conditional=true"])
    assert (config.model.label_smoothing, config.model.d_steps, config.model.conditional) == (0.1, 2, True)
    assert "dcgan" in get_family("dcgan").name


def test_trains_through_the_generic_trainer_and_reloads(tmp_path):
    from conftest import quick_overrides
    from genimg.train import load_model, train

    config = apply_overrides(
        default_config("dcgan"),
        quick_overrides(
            tmp_path,
            epochs=2,
            fid_every=0,
            select_by="last",
            sample_every=1,
            g_features=8,
            d_features=8,
            conditional="true",
        ),
    )
    result = train(config, quiet=True)
    assert (result.run.path / "samples.png").exists()
    model = load_model(result.run.path)
    assert model.conditional and model.sample(4, labels=7).shape == (4, 1, 8, 8)
    metrics = (result.run.path / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 2 and '"d_real"' in metrics[-1]


def test_mnist_sample_preset_is_the_measured_recipe_and_the_others_keep_theirs():
    recipe = default_config("dcgan", "mnist-sample").model
    assert (recipe.conditional, recipe.loss, recipe.d_norm, recipe.lr_g, recipe.beta1) == (
        True,
        "hinge",
        "spectral",
        1.6e-3,
        0.0,
    )
    for dataset in ("digits", "mnist", "cifar10"):  # the paper's loss and D, as before
        model = default_config("dcgan", dataset).model
        assert (model.conditional, model.loss, model.d_norm, model.lr_g) == (False, "bce", "batch", 2e-4)
