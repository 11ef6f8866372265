"""Validation before work for the commands that read a run: evaluate, explore, recover and outliers
refuse an option the model or the data cannot serve before any data is loaded or any sample
drawn, in one line."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402,F401
from conftest import quick_overrides  # noqa: E402
from genimg.errors import UserError  # noqa: E402
from genimg.evaluate import evaluator  # noqa: E402
from genimg.tasks.explore import ExploreOptions, explore, picks  # noqa: E402
from genimg.tasks.outliers import OutlierOptions, detect, detect_outliers  # noqa: E402
from genimg.tasks.recover import TaskSpec, run_recovery  # noqa: E402
from genimg.tasks.recover import run as recover_run  # noqa: E402
from genimg.train import apply_overrides, default_config, train  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    ae = train(apply_overrides(default_config("tiny-ae"), quick_overrides(tmp, "ae", epochs=1)), quiet=True)
    vae_overrides = quick_overrides(tmp, "vae", epochs=1) + ["hidden=16", "iw_samples=1", "likelihood_at_end=false"]
    vae = train(apply_overrides(default_config("vae"), vae_overrides), quiet=True)
    return {"tiny-ae": ae.run.path, "vae": vae.run.path}


@pytest.fixture
def no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded or samples drawn before the options were checked")

    for module in (evaluator, picks, detect, recover_run):
        monkeypatch.setattr(module, "load_split", refuse)
    monkeypatch.setattr(evaluator, "sample_images", refuse)


EVALUATE = [
    ({"n": 1}, "evaluation's n must be at least 2"),
    ({"floor_subsets": 0}, "evaluation's floor_subsets must be at least 1"),
    ({"likelihood_k": 0}, "evaluation's likelihood_k must be at least 1"),
    ({"features": "nonsense"}, "unknown feature extractor 'nonsense'"),
    ({"sample_options": {"steps": 0}}, "evaluation's steps must be at least 1"),
    ({"sample_options": {"sampler": "euler"}}, "evaluation's sampler must be one of ddpm, ddim"),
    ({"metrics": ["likelihood"]}, "needs a likelihood bound, which a tiny-ae does not have"),
    ({"metrics": ["fid", "bogus"]}, "unknown metric 'bogus'"),
]


@pytest.mark.parametrize("options, message", EVALUATE)
def test_evaluate(runs, no_work, options, message):
    with pytest.raises(UserError, match=message):
        evaluator.evaluate_run(runs["tiny-ae"], progress=False, log=lambda *a: None, **options)


EXPLORE = [
    ({"label": 3}, "not class-conditional"),
    ({"steps": 0}, "--steps must be at least 1"),
    ({"index": -1}, "--index must be a test image's position"),
    ({"ddim_steps": 0}, "--ddim-steps must be at least 1"),
]


@pytest.mark.parametrize("options, message", EXPLORE)
def test_explore(runs, no_work, tmp_path, options, message):
    with pytest.raises(UserError, match=message):
        explore(runs["tiny-ae"], "all", ExploreOptions(**options), out=tmp_path, log=lambda *a: None)


def test_recover(runs, no_work, tmp_path):
    with pytest.raises(UserError, match="unknown split 'training'"):
        run_recovery(runs["tiny-ae"], TaskSpec("denoise", 0.3), ["identity"], n=4, split="training", out=tmp_path)
    with pytest.raises(UserError, match="dps needs a denoiser"):
        run_recovery(runs["tiny-ae"], TaskSpec("denoise", 0.3), ["dps"], n=4, out=tmp_path)


def test_outliers(runs, no_work, tmp_path):
    with pytest.raises(UserError, match="needs a likelihood"):
        detect_outliers(runs["tiny-ae"], OutlierOptions(scores="nll", progress=False), out=tmp_path, log=print)
    with pytest.raises(UserError, match="unknown key 'nonsense'"):
        options = OutlierOptions(scores="ratio", background=["nonsense=1"], progress=False)
        detect_outliers(runs["vae"], options, out=tmp_path, log=print)
