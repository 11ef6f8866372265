"""The helpers every family shares, in ``models/base.py``.

``eval_mode`` gives a module back the mode it had, also when its block raises, so sampling,
scoring or inverting in the middle of training never leaves a model in eval mode.
``check_labels`` is the one place labels are normalised and checked: sampling's policy (draw the
labels a conditional model was not given; refuse labels an unconditional one cannot use) and
conditioning's (ask for missing labels; drop unused ones), the latter used by the VAE's encoder
and decoder and by every latent space.
"""

import pytest
import torch

from genimg.config.families import get_family
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import build_model, eval_mode

DIGITS = DataSpec((1, 8, 8), 10, 17)
TINY = {
    "vae": {"hidden": 16, "latent_dim": 2},
    "dcgan": {"g_features": 8, "d_features": 8, "latent_dim": 4},
    "diffusion": {"channels": 8, "attention": False, "norm_groups": 4, "timesteps": 10, "monitor_steps": 2},
}


def tiny(family: str, **fields):
    torch.manual_seed(0)
    return build_model(family, get_family(family).config_cls(**{**TINY[family], **fields}), DIGITS)


# ------------------------------------------------------------------------------------ eval_mode


def test_eval_mode_restores_the_previous_mode_even_when_the_block_raises():
    net = torch.nn.Sequential(torch.nn.Dropout(0.5))
    for was_training in (True, False):
        net.train(was_training)
        with eval_mode(net):
            assert not net.training and not net[0].training
        assert net.training is was_training and net[0].training is was_training
        with pytest.raises(RuntimeError), eval_mode(net):
            raise RuntimeError("a failure inside the block")
        assert net.training is was_training


@pytest.mark.parametrize("family", sorted(TINY))
def test_sampling_and_scoring_leave_a_training_model_training(family):
    model = tiny(family).train()
    model.sample(3, sampler="ddim", steps=2, progress=False)
    assert model.training
    x = torch.rand(2, 1, 8, 8)
    if model.has("likelihood"):
        model.log_likelihood(x, k=2, t_stride=5)
        assert model.training
    if model.has("latent"):
        space = model.latent_space(steps=2)
        if space.can_encode:
            space.encode(x)
            assert model.training
    if model.has("discriminator"):
        model.discriminator_score(x)
        assert model.training


def test_a_diffusion_sample_that_fails_midway_still_gives_the_model_back_training(monkeypatch):
    model = tiny("diffusion").train()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in the middle of a long chain, in a notebook

    monkeypatch.setattr(model, "denoiser_output", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.sample(2, sampler="ddim", steps=2, progress=False)
    assert model.training


# --------------------------------------------------------------------------------- check_labels


def test_sampling_policy_draws_missing_labels_and_refuses_unusable_ones():
    conditional = tiny("dcgan", conditional=True)
    drawn = conditional.check_labels(50, None)
    assert drawn.shape == (50,) and 0 <= drawn.min() and drawn.max() < 10
    assert conditional.check_labels(3, 7).tolist() == [7, 7, 7]  # an int stands for all n
    assert conditional.check_labels(2, [1, 2]).tolist() == [1, 2]
    with pytest.raises(UserError, match="expected 3 labels, got shape"):
        conditional.check_labels(3, [1, 2])
    with pytest.raises(UserError, match=r"labels must lie in 0\.\.9, got 1\.\.12"):
        conditional.check_labels(2, [1, 12])
    plain = tiny("dcgan")
    assert plain.check_labels(4, None) is None
    with pytest.raises(UserError, match="not class-conditional"):
        plain.check_labels(4, 1)


def test_conditioning_policy_asks_for_missing_labels_and_drops_unused_ones():
    conditional = tiny("vae", conditional=True)
    with pytest.raises(UserError, match="vae is class-conditional: pass labels"):
        conditional.check_labels(2, None, missing="refuse", unconditional="ignore")
    plain = tiny("vae")
    assert plain.check_labels(2, [3, 4], missing="refuse", unconditional="ignore") is None


def test_the_vae_encoder_and_decoder_check_labels_there():
    vae = tiny("vae", conditional=True)
    x = torch.rand(2, 1, 8, 8)
    mu, _ = vae.encode(x, 3)
    assert mu.shape == (2, 2)
    with pytest.raises(UserError, match="class-conditional: pass labels"):
        vae.encode(x)
    with pytest.raises(UserError, match="labels must lie in 0..9"):  # was a RuntimeError from one_hot
        vae.decode(mu, torch.tensor([0, 10]))
    assert tiny("vae").encode(x, torch.tensor([5, 5]))[0].shape == (2, 2)  # unconditional: labels dropped


def test_a_latent_space_checks_labels_through_its_model():
    space = tiny("vae", conditional=True).latent_space()
    assert space.labels_for(4, 3).tolist() == [4, 4, 4]
    with pytest.raises(UserError, match="pass labels"):
        space.labels_for(None, 3)
    with pytest.raises(UserError, match="expected 3 labels"):
        space.labels_for(torch.tensor([1, 2]), 3)
    assert tiny("vae").latent_space().labels_for(torch.tensor([1, 2]), 2) is None
