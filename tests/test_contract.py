"""The cross-family contract (as diffusers' common scheduler tests): every registered family,
the test-only one in ``models_for_tests.py`` included, meets every protocol method and every
task, each either with a result of the right shape and range or with the documented one-line
refusal. A family that passes here needs no change anywhere else: a new family is a package
and its registry lines (docs/ARCHITECTURE.md, "A family"), or, kept outside genimg, one file
that registers itself, as ``models_for_tests.py`` does.
"""

import pytest
import torch

import models_for_tests  # noqa: F401  (registers tiny-ae)
from conftest import quick_overrides
from genimg.config.families import families
from genimg.config.run_config import apply_overrides, default_config
from genimg.data.registry import load_dataset
from genimg.errors import UserError
from genimg.evaluate.evaluator import evaluate_run
from genimg.experiments.report import build_report
from genimg.experiments.sweep import define_sweep, evaluation_settings, run_sweep
from genimg.models.base import CAPABILITIES, Batch
from genimg.models.stepper import Stepper
from genimg.runs.loading import load_model
from genimg.tasks.classify import ClassifyOptions, classify_run
from genimg.tasks.explore import VIEWS, ExploreOptions, explore, latent_space, supported_views
from genimg.tasks.outliers import SCORES, OutlierOptions, detect_outliers, resolve_scores
from genimg.tasks.recover import METHODS, SolverOptions, TaskSpec, recover
from genimg.tasks.recover.run import method_refusal
from genimg.train.trainer import train

TINY = {  # a small, fast instance of each family, trained for one epoch on 128 digits
    "vae": ["hidden=32", "latent_dim=2", "iw_samples=1"],
    "dcgan": ["g_features=8", "d_features=8", "latent_dim=4", "select_by=last", "fid_every=0"],
    "diffusion": [
        "channels=8",
        "attention=false",
        "norm_groups=4",
        "timesteps=20",
        "warmup_steps=2",
        "fid_every=0",
        "select_by=val_loss",
        "monitor_steps=5",
    ],
    "tiny-ae": [],
}
COMMON = ["data.limit=128", "batch_size=32", "likelihood_k=5", "sample_every=0", "eval_every=1", "patience=null"]
FAMILIES = [f.name for f in families()]


def test_every_registered_family_is_covered():
    assert set(FAMILIES) == set(TINY), "give a new family a tiny config in TINY"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One trained run directory per family."""
    out = tmp_path_factory.mktemp("contract")
    return {
        name: train(
            apply_overrides(default_config(name), quick_overrides(out, name, epochs=1) + COMMON + TINY[name]),
            quiet=True,
        ).run.path
        for name in FAMILIES
    }


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "test").images[:6]


def _image_like(images, n):
    assert images.shape == (n, 1, 8, 8) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1 and torch.isfinite(images).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_protocol_methods(runs, family, digits):
    model = load_model(runs[family])
    _image_like(model.sample(5, progress=False), 5)
    _image_like(model.sample(3, progress=False, **model.monitoring_sample_options()), 3)
    optimizers = model.configure_optimizers()
    assert optimizers and all(isinstance(o, torch.optim.Optimizer) for o in optimizers.values())
    model.train()
    logged = model.training_step(Batch(digits, torch.zeros(6, dtype=torch.long)), Stepper(optimizers))
    assert logged and all(torch.isfinite(torch.as_tensor(v)).all() for v in logged.values())
    model.eval()
    for capability in CAPABILITIES:
        if not model.has(capability):
            with pytest.raises(UserError, match=f"which a {family} does not have"):
                model.require(capability, "this")
    if model.has("likelihood"):
        bounds = model.log_likelihood(digits, None, k=3, t_stride=5)
        assert model.primary_bound(bounds) in bounds and all(b.shape == (6,) for b in bounds.values())
    if model.has("reconstruct"):
        _image_like(model.reconstruct(digits), 6)
    if model.has("discriminator"):
        assert model.discriminator_score(digits).shape == (6,)
    if model.has("latent"):
        space = model.latent_space(steps=3)
        codes = space.encode(digits) if space.can_encode else space.prior(6, torch.Generator().manual_seed(0))
        assert codes.shape == (6, space.dim)
        _image_like(space.decode(codes), 6)


@pytest.mark.parametrize("family", FAMILIES)
def test_explore_every_view(runs, family, tmp_path):
    model = load_model(runs[family])
    options = ExploreOptions(n=8, steps=3, ddim_steps=3)
    if not model.has("latent"):
        with pytest.raises(UserError, match="exploring a model needs a latent space"):
            explore(runs[family], "all", options, out=tmp_path, log=lambda *_: None)
        return
    reasons = supported_views(latent_space(model, 3))
    for view in VIEWS:
        if reasons[view] is None:
            results = explore(runs[family], view, options, out=tmp_path / view, log=lambda *_: None)
            assert results and list((tmp_path / view).glob("*.png"))
        else:
            with pytest.raises(UserError, match=view):
                explore(runs[family], view, options, out=tmp_path / view, log=lambda *_: None)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["inpaint", "denoise"])
def test_recover_every_method(runs, family, task, digits):
    model = load_model(runs[family])
    options = SolverOptions(latent_steps=3, restarts=1, steps=4, resamples=2, jump_length=2)
    for name, method in METHODS.items():
        if task not in method.tasks:
            continue
        reason = method_refusal(method, model)
        if reason is None:
            result = recover(model, digits, TaskSpec(task), [name], options, seed=0)
            _image_like(result.methods[name].images, 6)
        else:
            with pytest.raises(UserError, match="does not have|needs a differentiable decoder"):
                recover(model, digits, TaskSpec(task), [name], options, seed=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_outliers_every_score(runs, family, tmp_path):
    model = load_model(runs[family])
    try:
        supported = resolve_scores(None, model)
    except UserError as refusal:
        assert "neither a likelihood nor a discriminator" in str(refusal)
        supported = []
    for score in SCORES:
        options = OutlierOptions(
            ood=["uniform"],
            scores=[score],
            n=16,
            k=3,
            t_stride=5,
            batch_sizes=(2,),
            background=["epochs=1"],
            progress=False,
        )
        if score in supported:
            table = detect_outliers(runs[family], options, out=tmp_path / score, log=lambda *_: None)
            row = next(r for r in table["rows"] if r["score"] == score)
            assert 0 <= row["auroc"] <= 1
        else:
            with pytest.raises(UserError, match="lacks|neither"):
                detect_outliers(runs[family], options, out=tmp_path / score, log=lambda *_: None)


@pytest.mark.parametrize("family", FAMILIES)
def test_classify(runs, family, tmp_path):
    options = ClassifyOptions(missing="half", n=6, k=3, t_stride=5, impute_steps=2, progress=False)
    model = load_model(runs[family])
    if model.has("likelihood") and model.conditional:  # no TINY run is conditional: tests/test_classify.py
        summary = classify_run(runs[family], options, out=tmp_path, log=lambda *_: None)
        assert 0 <= summary["generative"]["accuracy"] <= 1
    else:
        with pytest.raises(UserError, match="conditional=true"):
            classify_run(runs[family], options, out=tmp_path, log=lambda *_: None)


@pytest.mark.parametrize("family", FAMILIES)
def test_evaluate(runs, family):
    result = evaluate_run(
        runs[family],
        n=40,
        seeds=1,
        floor_subsets=1,
        metrics=("fid", "likelihood"),
        likelihood_k=3,
        progress=False,
        log=lambda *_: None,
    )
    assert result["scores"]["fid"]["mean"] >= 0 and result["fid_over_floor"] > 0
    assert ("likelihood" in result) == load_model(runs[family]).has("likelihood")
    if family == "diffusion":  # a strided likelihood is an estimate, named so, never the bound
        strided = evaluate_run(runs[family], metrics=("likelihood",), t_stride=10, progress=False, write=False)
        assert set(strided["likelihood"]) == {"nll_vlb_estimate_nats", "nll_vlb_estimate_bpd", "images", "t_stride"}


@pytest.mark.parametrize("family", FAMILIES)
def test_sweep_of_two_variants_and_its_report(family, tmp_path):
    base = [
        item
        for item in quick_overrides(tmp_path, "unused", epochs=1) + COMMON + TINY[family]
        if not item.startswith(("out=", "run_name=", "progress=", "epochs="))
    ]
    sweep = define_sweep(
        family, {"epochs": [1, 2]}, base=base, evaluation=evaluation_settings(n=40, seeds=1), out=tmp_path / "sweep"
    )
    outcome = run_sweep(sweep, report=True, quiet=True)
    assert not outcome.failed and (tmp_path / "sweep" / "report.html").is_file()
    assert "<table" in build_report([tmp_path / "sweep"], tmp_path / "again.html").read_text()
