from typing import Literal, get_args

import pytest

from genimg.config.fields import coerce
from genimg.config.run_config import apply_overrides, config_for, default_config, load_config, parse_overrides
from genimg.errors import UserError
from genimg.models.diffusion.config import SAMPLERS, Sampler


def test_flat_and_dotted_keys_resolve_to_their_sections():
    c = apply_overrides(default_config("vae"), ["latent_dim=2", "train.epochs=7", "dataset=digits", "lr=3e-4"])
    assert c.model.latent_dim == 2 and c.train.epochs == 7 and c.data.dataset == "digits"
    assert c.model.lr == pytest.approx(3e-4)


def test_family_train_defaults_apply_and_overrides_win():
    c = default_config("vae")
    assert c.train.select_by == "val_loss"
    assert apply_overrides(c, {"patience": None}).train.patience is None


def test_mistyped_key_lists_valid_keys():
    with pytest.raises(UserError) as e:
        apply_overrides(default_config("vae"), ["latent_dmi=3"])
    assert "latent_dmi" in str(e.value) and "model.latent_dim" in str(e.value)


@pytest.mark.parametrize(
    "item, fragment",
    [
        ("epochs=ten", "must be an integer"),
        ("epochs=2.5", "must be an integer"),
        ("beta=abc", "must be a number"),
        ("conditional=maybe", "true or false"),
        ("arch=transformer", "mlp, conv"),
        ("latent_dim=0", "at least 1"),
        ("select_by=loss", "val_loss, fid, last"),
    ],
)
def test_bad_values_are_user_errors(item, fragment):
    with pytest.raises(UserError, match=fragment):
        apply_overrides(default_config("vae"), [item])


def test_a_literal_choice_refuses_a_typo_in_one_line_listing_the_choices():
    with pytest.raises(UserError) as e:
        config_for("diffusion", ["sampler=ddmi"])
    choices = ", ".join(SAMPLERS)
    assert str(e.value) == f"model.sampler must be one of {choices}, got 'ddmi'" and "\n" not in str(e.value)
    # coerce itself refuses it (the config is checked as it is built, not later), and a value of
    # another type is no choice either: YAML reads `yes` as True, `1` as an integer
    for value in ("ddmi", True, 1, None):
        with pytest.raises(UserError, match=f"must be one of {choices}, got"):
            coerce(value, Sampler, "model.sampler")
    assert coerce("ddim", Sampler | None, "s") == "ddim" and coerce(None, Sampler | None, "s") is None
    assert SAMPLERS == get_args(Sampler) and SAMPLERS[:2] == ("ddpm", "ddim")  # the tuple is read from the Literal
    assert coerce("b", Literal["a", "b"], "k") == "b"


def test_an_older_name_of_a_choice_still_reads():
    assert config_for("diffusion", ["prediction=eps"]).model.prediction == "epsilon"


def test_not_key_value():
    with pytest.raises(UserError, match="key=value"):
        parse_overrides(["latent_dim"])


def test_yaml_round_trip(tmp_path):
    c = apply_overrides(default_config("vae"), ["latent_dim=5", "classes=[0,1,2]", "grad_clip=1.5"])
    f = tmp_path / "c.yaml"
    f.write_text(c.to_yaml())
    assert load_config(f) == c


def test_bad_config_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("family: vae\nmodel: {latent_dim: [\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)
    nofam = tmp_path / "nofam.yaml"
    nofam.write_text("model: {}\n")
    with pytest.raises(UserError, match="family"):
        load_config(nofam)


def test_unknown_family():
    with pytest.raises(UserError, match="vae"):
        default_config("transformer")
