"""Latent exploration (genimg.tasks.explore) and class-conditional VAE sampling.

The figures' numbers are checked, not only their files: interpolation ends decode to the
reconstructions of the ends, slerp keeps norms, manifold grids are the prior's quantiles or
lie in the principal plane, traversals move one coordinate per row, the 2-D scatter shows
the encoder means, and the reconstruction scores agree with torchmetrics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.cli import main
from genimg.data import load_dataset
from genimg.errors import UserError
from genimg.models.base import build_model
from genimg.tasks.explore import (
    VIEWS,
    interpolation,
    latent_space,
    lerp,
    manifold,
    reconstructions,
    scatter,
    slerp,
    traversal,
)
from genimg.tasks.explore.run import RUNNERS
from genimg.train import apply_overrides, default_config, train

FAST = ["progress=false", "threads=1", "likelihood_at_end=false", "sample_every=0", "patience=null"]


def _train(family: str, out, name: str, *overrides: str):
    config = apply_overrides(default_config(family), [f"out={out}", f"run_name={name}", *FAST, *overrides])
    return train(config, quiet=True)


@pytest.fixture(scope="module")
def vae2_run(tmp_path_factory):
    """A 2-D VAE trained briefly on the digits: enough for its encoder to separate some classes."""
    return _train("vae", tmp_path_factory.mktemp("runs"), "vae2", "latent_dim=2", "epochs=6", "hidden=64")


@pytest.fixture(scope="module")
def vae4(spec):
    torch.manual_seed(0)
    return build_model("vae", apply_overrides(default_config("vae"), ["latent_dim=4", "hidden=64"]).model, spec).eval()


@pytest.fixture(scope="module")
def dcgan(spec):
    torch.manual_seed(0)
    config = apply_overrides(default_config("dcgan"), ["latent_dim=8", "g_features=8", "d_features=8"]).model
    return build_model("dcgan", config, spec).eval()


@pytest.fixture(scope="module")
def diffusion(spec):
    torch.manual_seed(0)
    overrides = ["timesteps=50", "channels=8", "res_blocks=1", "attention=false", "norm_groups=4"]
    return build_model("diffusion", apply_overrides(default_config("diffusion"), overrides).model, spec).eval()


# ---------------------------------------------------------------------------- paths


def test_slerp_keeps_equal_norms_and_moves_at_constant_angular_speed():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 16, generator=g)
    b = torch.randn(5, 16, generator=g)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)  # equal norms per pair
    t = torch.linspace(0, 1, 7)
    path = slerp(a, b, t)
    assert path.shape == (5, 7, 16)
    assert torch.equal(path[:, 0], a) and torch.equal(path[:, -1], b)
    norms = path.norm(dim=-1)
    torch.testing.assert_close(norms, a.norm(dim=1, keepdim=True).expand(5, 7), rtol=1e-5, atol=1e-5)
    omega = torch.arccos((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)))
    angle_from_a = torch.arccos(((path * a[:, None]).sum(-1) / (norms * a.norm(dim=1, keepdim=True))).clamp(-1, 1))
    torch.testing.assert_close(angle_from_a, omega[:, None] * t[None], rtol=1e-3, atol=1e-3)
    # A straight line between the same points cuts inside the sphere.
    straight = lerp(a, b, t)
    assert torch.equal(straight[:, 0], a) and torch.equal(straight[:, -1], b)
    assert (straight[:, 3].norm(dim=-1) < norms[:, 3] - 1e-3).all()


def test_slerp_with_unequal_norms_and_parallel_vectors():
    a = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [2.0, 2.0]])  # second pair parallel: slerp falls back to the line
    t = torch.linspace(0, 1, 5)
    path = slerp(a, b, t)
    assert torch.equal(path[:, 0], a) and torch.equal(path[:, -1], b)
    torch.testing.assert_close(path[1], lerp(a, b, t)[1])
    # Halfway between orthogonal vectors: both weights are sin(pi/4) / sin(pi/2).
    torch.testing.assert_close(path[0, 2], torch.tensor([3.0, 1.0]) * math.sin(math.pi / 4))


# ---------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_vae_interpolation_ends_decode_to_the_reconstructions(vae2_run, test_split, method):
    model = vae2_run.model
    start, end = test_split.images[:4], test_split.images[4:8]
    result = interpolation(model, start=start, end=end, steps=6, method=method)
    assert result.images.shape == (4, 6, 1, 8, 8) and result.codes.shape == (4, 6, 2)
    with torch.no_grad():
        mu_start, _ = model.encode(start)
        mu_end, _ = model.encode(end)
        torch.testing.assert_close(result.codes[:, 0], mu_start)
        torch.testing.assert_close(result.codes[:, -1], mu_end)
        torch.testing.assert_close(result.images[:, 0], model.reconstruct(start), atol=1e-5, rtol=0)
        torch.testing.assert_close(result.images[:, -1], model.reconstruct(end), atol=1e-5, rtol=0)
        torch.testing.assert_close(result.images[:, 2], model.decode(result.codes[:, 2]), atol=1e-5, rtol=0)
    assert not torch.allclose(result.images[:, 0], result.images[:, -1])


def test_dcgan_interpolates_between_seeds_only(dcgan, test_split, tmp_path):
    result = interpolation(dcgan, pairs=3, steps=5, method="slerp", seed=7, out=tmp_path / "i.png")
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    torch.testing.assert_close(result.codes[:, 0], a)
    torch.testing.assert_close(result.codes[:, -1], b)
    torch.testing.assert_close(result.images[:, 1], dcgan.decode(result.codes[:, 1]))
    assert Image.open(tmp_path / "i.png").format == "PNG"
    with pytest.raises(UserError, match="seeds"):
        interpolation(dcgan, start=test_split.images[:2], end=test_split.images[2:4])


def test_diffusion_interpolates_in_ddim_noise(diffusion, test_split):
    space = latent_space(diffusion, ddim_steps=4)
    start, end = test_split.images[:2], test_split.images[2:4]
    result = interpolation(space, start=start, end=end, steps=4, method="slerp")
    assert result.codes.shape == (2, 4, 64)
    torch.testing.assert_close(result.codes[:, 0], diffusion.ddim_invert(start, steps=4).flatten(1))
    expected_end = diffusion.sample(
        2, noise=diffusion.ddim_invert(end, steps=4), sampler="ddim", steps=4, eta=0.0, clip=False, progress=False
    )
    torch.testing.assert_close(result.images[:, -1], expected_end, atol=1e-5, rtol=0)
    # The views that need coordinates with a meaning of their own say what works instead.
    with pytest.raises(UserError, match="recon, interp, scatter"):
        traversal(space)
    with pytest.raises(UserError, match="recon, interp, scatter"):
        manifold(space, images=test_split.images)


# ---------------------------------------------------------------------------- manifold


def test_manifold_of_a_2d_latent_is_the_prior_quantile_grid(vae2_run, tmp_path):
    from scipy.stats import norm

    model = vae2_run.model
    result = manifold(model, n=7, out=tmp_path / "m.png")
    assert result.images.shape == (7, 7, 1, 8, 8) and result.coords.shape == (7, 7, 2)
    quantiles = torch.tensor(norm.ppf((np.arange(7) + 0.5) / 7), dtype=torch.float32)
    torch.testing.assert_close(result.coords[0, :, 0], quantiles)  # z1 grows to the right
    torch.testing.assert_close(result.coords[:, 0, 1], quantiles.flip(0))  # z2 grows upwards
    assert (result.coords[:, 1:, 0] > result.coords[:, :-1, 0]).all()
    assert (result.coords[1:, :, 1] < result.coords[:-1, :, 1]).all()
    assert (result.coords[:, :, 0] == result.coords[:1, :, 0]).all()  # one z1 per column
    with torch.no_grad():
        torch.testing.assert_close(
            result.images.flatten(0, 1), model.decode(result.codes.flatten(0, 1)), atol=1e-5, rtol=0
        )
    assert Image.open(tmp_path / "m.png").size[0] > 7 * 8 * 8


def test_manifold_of_a_higher_dim_latent_spans_the_principal_plane(vae4, test_split):
    images = test_split.images[:200]
    result = manifold(vae4, n=5, images=images, span=2.0)
    assert result.images.shape == (5, 5, 1, 8, 8) and result.basis == "principal directions"
    axis = torch.linspace(-2, 2, 5)
    torch.testing.assert_close(result.coords[2, :, 0], axis)
    torch.testing.assert_close(result.coords[:, 2, 1], axis.flip(0))
    # Reference: the principal plane from numpy's SVD of the centred codes.
    with torch.no_grad():
        codes = vae4.encode(images)[0].double().numpy()
    mean = codes.mean(0)
    _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
    grid = result.codes.double().numpy().reshape(-1, 4) - mean
    off_plane = grid - grid @ vt[:2].T @ vt[:2]
    assert np.abs(off_plane).max() < 1e-4
    np.testing.assert_allclose(result.codes[2, 2].double().numpy(), mean, atol=1e-5)  # centre cell: the mean code
    # The right edge lies 2 standard deviations (sample std, n - 1) along the first direction.
    std1 = s[0] / math.sqrt(len(codes) - 1)
    np.testing.assert_allclose(abs((result.codes[2, 4].double().numpy() - mean) @ vt[0]), 2 * std1, rtol=1e-4)


def test_manifold_needs_an_encoder_above_two_dimensions(dcgan):
    with pytest.raises(UserError, match="latent_dim=2"):
        manifold(dcgan)


# ---------------------------------------------------------------------------- traversal


def test_traversal_moves_one_coordinate_per_row(vae4, test_split, tmp_path):
    image = test_split.images[3]
    result = traversal(vae4, image=image, steps=5, span=1.5, images=test_split.images, out=tmp_path / "t.png")
    with torch.no_grad():
        base = vae4.encode(image[None])[0][0]
        activity = vae4.encode(test_split.images)[0].double().var(0, unbiased=False)
    torch.testing.assert_close(result.base, base)
    torch.testing.assert_close(result.activity, activity)
    assert result.dims == torch.argsort(activity, descending=True).tolist()  # most active coordinate first
    assert result.codes.shape == (4, 5, 4) and result.images.shape == (4, 5, 1, 8, 8)
    for row, d in enumerate(result.dims):
        change = result.codes[row] - base
        others = [k for k in range(4) if k != d]
        assert torch.equal(change[:, others], torch.zeros(5, 3))
        torch.testing.assert_close(change[:, d], torch.linspace(-1.5, 1.5, 5))
    with torch.no_grad():
        torch.testing.assert_close(result.images[1], vae4.decode(result.codes[1]), atol=1e-5, rtol=0)
    assert Image.open(tmp_path / "t.png").format == "PNG"


def test_dcgan_traversal_around_a_seed_with_chosen_dimensions(dcgan):
    result = traversal(dcgan, dims=[5, 0], steps=3, seed=2)
    torch.testing.assert_close(result.base, torch.randn(1, 8, generator=torch.Generator().manual_seed(2))[0])
    assert result.dims == [5, 0] and result.source.startswith("prior draw")
    assert torch.equal((result.codes[0] != result.base).any(0), torch.arange(8) == 5)
    with pytest.raises(UserError, match="0..7"):
        traversal(dcgan, dims=[8])


# ---------------------------------------------------------------------------- scatter


def test_scatter_of_a_2d_vae_shows_the_encoder_means(vae2_run, test_split, tmp_path):
    model = vae2_run.model
    result = scatter(
        model, test_split.images, test_split.labels, class_names=test_split.class_names, out=tmp_path / "s.png"
    )
    with torch.no_grad():
        mu, _ = model.encode(test_split.images)
    assert list(result.embeddings) == ["latent"]
    np.testing.assert_allclose(result.embeddings["latent"], mu.numpy(), rtol=0, atol=1e-6)
    assert torch.equal(result.labels, test_split.labels)
    assert Image.open(tmp_path / "s.png").format == "PNG"


def test_scatter_above_two_dimensions_has_pca_and_tsne_panels(vae4, test_split):
    images, labels = test_split.images[:60], test_split.labels[:60]
    result = scatter(vae4, images, labels, seed=1)
    assert set(result.embeddings) == {"PCA", "t-SNE"}
    with torch.no_grad():
        codes = vae4.encode(images)[0].double().numpy()
    centred = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T
    for k in range(2):  # a principal direction is defined up to its sign
        column = result.embeddings["PCA"][:, k]
        sign = np.sign(column @ reference[:, k])
        np.testing.assert_allclose(sign * column, reference[:, k], atol=1e-4)
    tsne = result.embeddings["t-SNE"]
    assert tsne.shape == (60, 2) and np.isfinite(tsne).all() and tsne.std(0).min() > 0


def test_diffusion_scatter_lays_out_the_ddim_noise(diffusion, test_split):
    images, labels = test_split.images[:12], test_split.labels[:12]
    result = scatter(latent_space(diffusion, ddim_steps=3), images, labels)
    torch.testing.assert_close(result.codes, diffusion.ddim_invert(images, steps=3).flatten(1))
    assert set(result.embeddings) == {"PCA", "t-SNE"} and result.embeddings["PCA"].shape == (12, 2)


def test_dcgan_has_no_scatter_or_reconstructions(dcgan, test_split):
    with pytest.raises(UserError, match="needs an encoder.*for this model use interp, traverse$"):
        scatter(dcgan, test_split.images[:10], test_split.labels[:10])
    with pytest.raises(UserError, match="encoder"):
        reconstructions(dcgan, test_split.images[:4])


# ---------------------------------------------------------------------------- reconstructions


def test_reconstruction_scores_agree_with_torchmetrics(vae2_run, test_split, tmp_path):
    from torchmetrics.functional import structural_similarity_index_measure

    model = vae2_run.model
    images = test_split.images[:10]
    result = reconstructions(model, images, test_split.labels[:10], out=tmp_path / "r.png")
    with torch.no_grad():
        recon = model.reconstruct(images)
    torch.testing.assert_close(result.reconstructions, recon, atol=1e-6, rtol=0)
    expected_mse = (recon.double() - images.double()).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(result.mse, expected_mse, atol=1e-7, rtol=1e-5)
    expected_ssim = structural_similarity_index_measure(
        recon.double(),
        images.double(),
        gaussian_kernel=True,
        sigma=1.5,
        kernel_size=11,
        data_range=1.0,
        reduction="none",
    )
    torch.testing.assert_close(result.ssim, expected_ssim, atol=1e-6, rtol=1e-5)
    assert Image.open(tmp_path / "r.png").format == "PNG"


def test_diffusion_reconstruction_is_the_ddim_round_trip(diffusion, test_split):
    images = test_split.images[:3]
    result = reconstructions(latent_space(diffusion, ddim_steps=4), images)
    noise = diffusion.ddim_invert(images, steps=4)
    expected = diffusion.sample(3, noise=noise, sampler="ddim", steps=4, eta=0.0, clip=False, progress=False)
    torch.testing.assert_close(result.reconstructions, expected, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------- the command line


def test_every_view_has_a_runner_in_the_order_of_the_views():
    assert tuple(RUNNERS) == VIEWS


def _valid_png(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_cli_explore_writes_every_view_of_a_vae(vae2_run, tmp_path, capsys):
    out = tmp_path / "explore"
    code = main(["explore", str(vae2_run.run.path), "--n", "6", "--steps", "5", "--out", str(out)])
    assert code == 0
    names = ["recon.png", "interp_linear.png", "interp_slerp.png", "manifold.png", "traverse.png", "scatter.png"]
    for name in names:
        width, height = _valid_png(out / name)
        assert width >= 200 and height >= 150, name
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["recon.json"])  # no temporary files left
    import json

    scores = json.loads((out / "recon.json").read_text())
    assert scores["images"] == 6 and len(scores["ssim"]) == 6
    assert scores["mse_mean"] == pytest.approx(np.mean(scores["mse"]))
    assert "recon: mean MSE" in capsys.readouterr().out


def test_cli_explore_default_directory_and_one_view(vae2_run):
    assert main(["explore", str(vae2_run.run.path), "--what", "manifold", "--n", "4"]) == 0
    _valid_png(vae2_run.run.path / "explore" / "manifold.png")


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, dcgan, spec):
    """A run directory written the way the trainer writes one, holding the untrained DCGAN."""
    from genimg.io import write_json, write_text
    from genimg.runs.checkpoint import save_checkpoint
    from genimg.runs.directory import RunDir

    run = RunDir(tmp_path_factory.mktemp("runs") / "gan")
    config = apply_overrides(default_config("dcgan"), ["latent_dim=8", "g_features=8", "d_features=8"])
    write_text(run.config_file, config.to_yaml())
    write_json(run.spec_file, spec.to_dict())
    save_checkpoint(run.checkpoint("last"), dcgan, None, None)
    return run


def test_cli_explore_refuses_what_a_dcgan_cannot_do(dcgan_run, dcgan, tmp_path, capsys):
    code = main(["explore", str(dcgan_run.path), "--what", "scatter", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "encoder" in err and "interp" in err and len(err.strip().splitlines()) == 1
    assert (
        main(
            [
                "explore",
                str(dcgan_run.path),
                "--what",
                "interp",
                "traverse",
                "--n",
                "2",
                "--steps",
                "3",
                "--seed",
                "5",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    for name in ("interp_linear.png", "interp_slerp.png", "traverse.png"):
        _valid_png(tmp_path / name)
    # "all" skips, with a note, what the model cannot do.
    assert main(["explore", str(dcgan_run.path), "--n", "2", "--steps", "3", "--out", str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out
    assert "skipping scatter" in out and "skipping recon" in out and "skipping manifold" in out
    drawn = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert drawn == ["interp_linear.png", "interp_slerp.png", "traverse.png"]


# ---------------------------------------------------------------------------- class-conditional VAE


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    return _train(
        "vae",
        tmp_path_factory.mktemp("runs"),
        "cvae",
        "conditional=true",
        "latent_dim=2",
        "epochs=10",
        "hidden=128",
        "lr=3e-3",
    )


def test_conditional_vae_samples_the_requested_class(cvae_run, tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    npz = tmp_path / "s.npz"
    assert (
        main(
            [
                "sample",
                str(cvae_run.run.path),
                "--label",
                "3",
                "--n",
                "60",
                "--npz",
                str(npz),
                "--out",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    samples = np.load(npz)
    assert (samples["labels"] == 3).all()
    train_split = load_dataset("digits", "train")
    knn = KNeighborsClassifier(5).fit(train_split.images.flatten(1).numpy(), train_split.labels.numpy())
    predicted = knn.predict(samples["images"].reshape(60, -1))
    assert (predicted == 3).mean() > 0.8
    # Other classes from the same noise look like those classes: the label reaches the decoder.
    model = cvae_run.model
    z = torch.randn(60, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sevens = model.decode(z, 7)
        torch.testing.assert_close(sevens, model.decode(z, torch.full((60,), 7)))
    assert (knn.predict(sevens.flatten(1).numpy()) == 7).mean() > 0.8


def test_conditional_vae_explore_uses_labels(cvae_run, test_split, tmp_path):
    model = cvae_run.model
    start, end = test_split.images[:2], test_split.images[2:4]
    labels = test_split.labels[:2]
    result = interpolation(model, start=start, end=end, labels=labels, steps=3, method="linear")
    with torch.no_grad():
        torch.testing.assert_close(result.images[:, 0], model.reconstruct(start, labels), atol=1e-5, rtol=0)
    grid = manifold(model, n=3, label=4)
    with torch.no_grad():
        torch.testing.assert_close(
            grid.images.flatten(0, 1), model.decode(grid.codes.flatten(0, 1), 4), atol=1e-5, rtol=0
        )
    assert main(["explore", str(cvae_run.run.path), "--n", "4", "--steps", "3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "scatter.png").exists()


def test_unconditional_models_refuse_a_label(vae2_run, capsys):
    assert main(["sample", str(vae2_run.run.path), "--label", "3", "--n", "4"]) == 2
    assert "conditional" in capsys.readouterr().err
    with pytest.raises(UserError, match="not class-conditional"):
        manifold(vae2_run.model, n=3, label=1)
