"""Recovery from what medical scanners measure (issue 24): MRI k-space and CT sinograms.

The operators are checked against their adjoints and the CT operator against scikit-image's
``radon``; the k-space masks against their acceleration; the least-squares step against NumPy's
least squares; TV compressed sensing against the zero-filled and back-projected images; the
diffusion solvers (with the shipped 28x28 model) against the measurement they must agree with;
and the command line end to end, with its one-line errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.cli import main
from genimg.data import load_dataset
from genimg.errors import UserError
from genimg.tasks.recover import (
    KSpaceSampling,
    ParallelBeamRadon,
    SolverOptions,
    TaskSpec,
    kspace_mask,
    make_degradation,
    radon_matrix,
    recover,
    regularised_least_squares,
    resolve_methods,
)
from genimg.tasks.recover.scanner_operators import padded_size, view_angles


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist-sample", "val").images[:8]


# ---------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    "make, channels, size",
    [
        (lambda: KSpaceSampling(kspace_mask("cartesian", 5, 8, 8, 4, torch.Generator().manual_seed(1))), 1, 8),
        (lambda: KSpaceSampling(kspace_mask("radial", 5, 9, 9, 3, torch.Generator().manual_seed(2))), 3, 9),
        (lambda: KSpaceSampling(kspace_mask("random", 1, 8, 8, 2, torch.Generator().manual_seed(3))), 1, 8),
        (lambda: ParallelBeamRadon(8, 5), 1, 8),
        (lambda: ParallelBeamRadon(9, 8), 3, 9),
    ],
)
def test_adjoint_identity(make, channels, size):
    """<A x, y> = <x, A^T y> for random x and y, in float64."""
    operator = make()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, channels, size, size, generator=g, dtype=torch.float64)
    ax = operator(x)
    y = torch.randn(ax.shape, generator=g, dtype=torch.float64)
    assert torch.allclose((ax * y).sum(), (x * operator.adjoint(y)).sum(), rtol=1e-10, atol=1e-10)
    assert operator.to_image(ax).shape == x.shape


@pytest.mark.parametrize("views", [5, 8, 32])
def test_ct_operator_is_skimage_radon(mnist, views):
    """The Radon matrix gives what ``skimage.transform.radon(image, theta, circle=False)`` gives,
    to float32 rounding (1e-5 of the largest line integral)."""
    from skimage.transform import radon

    operator = ParallelBeamRadon(28, views)
    sinograms = operator(mnist[:3])
    assert sinograms.shape == (3, 1, padded_size(28), views)
    for image, ours in zip(mnist[:3], sinograms):
        reference = radon(image[0].double().numpy(), view_angles(views), circle=False)
        assert np.abs(ours[0].numpy() - reference).max() < 1e-5 * reference.max()
    assert radon_matrix(28, views) is radon_matrix(28, views)  # built once per size and views


def test_mri_measures_the_orthonormal_fft_where_the_mask_is_one(mnist):
    mask = kspace_mask("cartesian", 8, 28, 28, 4, torch.Generator().manual_seed(0))
    y = torch.view_as_complex(KSpaceSampling(mask)(mnist).contiguous())
    spectrum = torch.fft.fft2(mnist.double()) / 28  # orthonormal: divided by sqrt(H W)
    measured = mask.bool().expand_as(spectrum)
    assert torch.allclose(y[measured].cdouble(), spectrum[measured], atol=1e-5)
    assert torch.all(y[~measured] == 0)


@pytest.mark.parametrize("acceleration", [2, 4, 8])
def test_kspace_masks_measure_one_in_acceleration(acceleration):
    g = torch.Generator().manual_seed(0)
    cartesian = kspace_mask("cartesian", 6, 28, 28, acceleration, g)
    columns = cartesian[:, 0].amax(1)  # (6, 28): which columns are measured
    assert torch.all(cartesian[:, 0] == columns[:, None, :])  # whole lines
    assert torch.all(columns.sum(1) == round(28 / acceleration))
    assert torch.all(columns[:, 0] == 1)  # the centre of k-space (DC, at index 0 before the shift)
    assert not torch.equal(cartesian[0], cartesian[1])  # each image its own random lines
    random = kspace_mask("random", 6, 28, 28, acceleration, g)
    assert torch.all(random.flatten(1).sum(1) == round(28 * 28 / acceleration)) and torch.all(random[:, 0, 0, 0] == 1)
    radial = kspace_mask("radial", 6, 28, 28, acceleration, g)
    assert torch.all(radial.flatten(1).mean(1) >= 1 / acceleration) and torch.all(radial[:, 0, 0, 0] == 1)
    again = kspace_mask("cartesian", 6, 28, 28, acceleration, torch.Generator().manual_seed(0))
    assert torch.equal(again, cartesian)  # deterministic given the generator


def test_kspace_noise_stays_on_the_measured_positions(mnist):
    spec = TaskSpec("mri", acceleration=4, sigma=0.1)
    degradation = make_degradation(spec, (1, 28, 28), 8, torch.Generator().manual_seed(0))
    assert isinstance(degradation.operator, KSpaceSampling)
    clean = degradation.operator(mnist)
    noise = degradation.measure(mnist, torch.Generator().manual_seed(1)) - clean
    measured = degradation.operator.mask.bool().unsqueeze(-1).expand_as(noise)
    assert torch.all(noise[~measured] == 0)
    assert noise[measured].std().item() == pytest.approx(0.1, rel=0.05)


def _as_matrix(operator, size: int) -> np.ndarray:
    """The operator as an explicit (measurements, pixels) matrix, column by column."""
    basis = torch.eye(size * size, dtype=torch.float64).view(-1, 1, size, size)
    return operator(basis).reshape(size * size, -1).T.numpy()


def test_least_squares_step_is_numpys_least_squares():
    """With rho = 0, CG from the anchor converges to the measurement-consistent image nearest it,
    anchor + pinv(A) (y - A anchor) (k-space: A^T A has three eigenvalues, so three steps do);
    with rho > 0, to the regularised solution (CT)."""
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 1, 8, 8, generator=g, dtype=torch.float64)
    anchor = torch.rand(2, 1, 8, 8, generator=g, dtype=torch.float64)
    kspace = KSpaceSampling(kspace_mask("cartesian", 1, 8, 8, 2, g))
    matrix = _as_matrix(kspace, 8)
    y = kspace(truth)
    projected = regularised_least_squares(kspace, y, anchor, 0.0, iterations=3)
    for i in range(2):
        a, b = anchor[i].flatten().numpy(), y[i].flatten().numpy()
        nearest = a + np.linalg.pinv(matrix) @ (b - matrix @ a)
        assert np.abs(projected[i].flatten().numpy() - nearest).max() < 1e-6
    radon = ParallelBeamRadon(8, 3)
    radon.matrix = radon.matrix.double()
    matrix = radon.matrix.numpy()
    y = radon(truth)
    rho = 1.0
    regularised = regularised_least_squares(radon, y, anchor, rho, iterations=64)
    for i in range(2):
        a, b = anchor[i].flatten().numpy(), y[i].flatten().numpy()
        solution = np.linalg.solve(matrix.T @ matrix + rho * np.eye(64), matrix.T @ b + rho * a)
        assert np.abs(regularised[i].flatten().numpy() - solution).max() < 1e-4


# ---------------------------------------------------------------------------- tasks and baselines


def test_tv_compressed_sensing_beats_the_direct_inverses(mnist):
    for spec, direct in ((TaskSpec("mri", acceleration=4), "zero-filled"), (TaskSpec("ct", views=8), "fbp")):
        methods = [direct, "tv-cs"] + (["sart"] if spec.task == "ct" else [])
        result = recover(None, mnist, spec, methods, SolverOptions(tv_iterations=200), seed=0)
        psnr = {name: r.recovered["psnr"]["mean"] for name, r in result.methods.items()}
        assert psnr["tv-cs"] > psnr[direct] + 3, psnr
        for r in result.methods.values():
            assert r.images.shape == mnist.shape and r.images.min() >= 0 and r.images.max() <= 1
        if spec.task == "ct":  # SART beats the back-projection
            assert psnr["sart"] > psnr["fbp"] + 3, psnr


def test_scanner_tasks_and_methods_are_validated():
    with pytest.raises(UserError, match="unknown k-space mask 'spiral'.*cartesian, radial, random"):
        TaskSpec("mri", mask="spiral").resolved()
    with pytest.raises(UserError, match="--acceleration is how many times fewer"):
        TaskSpec("mri", acceleration=0.5).resolved()
    with pytest.raises(UserError, match="--views is the number of projection angles"):
        TaskSpec("ct", views=0).resolved()
    with pytest.raises(UserError, match="--views applies to --task ct, not --task mri"):
        TaskSpec("mri", views=8).resolved()
    with pytest.raises(UserError, match="--acceleration applies to --task mri, not --task inpaint"):
        TaskSpec("inpaint", acceleration=4).resolved()
    with pytest.raises(UserError, match="--task ct needs square images"):
        make_degradation(TaskSpec("ct"), (1, 28, 32), 2)
    with pytest.raises(UserError, match="'tv-cs' does not solve --task denoise"):
        resolve_methods(["tv-cs"], "denoise", None)
    assert resolve_methods(None, "ct", None) == ["fbp", "sart", "tv-cs"]
    assert resolve_methods(None, "mri", None) == ["zero-filled", "tv-cs"]
    resolved = TaskSpec("mri").resolved()
    assert (resolved.mask, resolved.acceleration, resolved.sigma) == ("cartesian", 4.0, 0.0)
    assert TaskSpec("ct").resolved().views == 8


# ---------------------------------------------------------------------------- with the shipped model


def test_diffusion_solvers_end_consistent_with_the_measurement(mnist):
    """dps and dc with the shipped 28x28 diffusion model (4 steps: the mechanics, not the quality):
    their answers agree with the noiseless k-space far better than the unconstrained draw."""
    from genimg.runs.loading import load_model

    model = load_model("pretrained:diffusion-mnist-sample")
    spec = TaskSpec("mri", acceleration=2)
    x = mnist[:3]
    degradation = make_degradation(spec, (1, 28, 28), 3, torch.Generator().manual_seed(0))
    y = degradation.measure(x)
    options = {"steps": 4, "dc_iterations": 2}
    free = recover(model, x, spec, ["dps", "dc"], SolverOptions(**options, consistency_rounds=0), seed=0)
    made = recover(model, x, spec, ["dps", "dc"], SolverOptions(**options), seed=0)
    assert made.methods["dc"].images.min() >= 0 and made.methods["dc"].images.max() <= 1
    for name in ("dps", "dc"):
        before = (degradation.operator(free.methods[name].images) - y).norm()
        after = (degradation.operator(made.methods[name].images) - y).norm()
        assert after < 0.1 * before and after < 0.05 * y.norm(), (name, before, after)
        assert made.methods[name].recovered["psnr"]["mean"] > free.methods[name].recovered["psnr"]["mean"]


@pytest.mark.parametrize(
    "task_arguments, methods",
    [
        (["--task", "mri", "--acceleration", "4", "--mask", "radial"], {"zero-filled", "tv-cs", "dps", "dc"}),
        (["--task", "ct", "--views", "8"], {"fbp", "sart", "tv-cs", "dps", "dc"}),
    ],
)
def test_cli_recover_from_scanner_measurements(tmp_path, task_arguments, methods):
    out = tmp_path / "out"
    arguments = ["recover", "pretrained:diffusion-mnist-sample", *task_arguments, "--n", "2", "--steps", "3"]
    code = main([*arguments, "--consistency-rounds", "5", "--method", ",".join(sorted(methods)), "--out", str(out)])
    assert code == 0
    table = json.loads((out / "metrics.json").read_text())
    assert set(table["methods"]) == methods and table["n"] == 2 and table["dataset"] == "mnist-sample"
    assert table["task"] == task_arguments[1]
    assert Image.open(out / "figure.png").height > 2 * 28


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--task", "mri", "--views", "8"], "--views applies to --task ct"),
        (["--task", "ct", "--views", "0"], "--views is the number of projection angles"),
        (["--task", "mri", "--mask", "box"], "unknown k-space mask 'box'"),
        (["--task", "mri", "--method", "repaint"], "'repaint' does not solve --task mri"),
        (["--task", "ct", "--consistency-rounds", "-1"], "--consistency-rounds must be >= 0"),
    ],
)
def test_cli_bad_scanner_input_exits_2_with_one_line(capsys, arguments, message):
    code = main(["recover", "pretrained:diffusion-mnist-sample", *arguments])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err
