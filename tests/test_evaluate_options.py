"""``EvaluationOptions``: the one place an evaluation's settings are checked (for `genimg
evaluate`, a sweep, the demo and a library call alike), the diffusion samplers every command
offers read from the diffusion config, and the evaluator's table, which calls a strided
likelihood an estimate (with its stride), never a bound."""

import pytest

from genimg.cli import build_parser
from genimg.errors import UserError
from genimg.evaluate.evaluator import evaluate_run, format_table
from genimg.evaluate.options import ALL_METRICS, EvaluationOptions
from genimg.models.diffusion.config import SAMPLERS

BAD = [
    ({"n": 1}, "the evaluation's n must be at least 2, got 1"),
    ({"seeds": 0}, "the evaluation's seeds must be at least 1, got 0"),
    ({"floor_subsets": 0}, "the evaluation's floor_subsets must be at least 1, got 0"),
    ({"likelihood_k": 0}, "the evaluation's likelihood_k must be at least 1, got 0"),
    ({"t_stride": 0}, "the evaluation's t_stride must be at least 1, got 0"),
    ({"sample_options": {"steps": 0}}, "the evaluation's steps must be at least 1, got 0"),
    ({"sample_options": {"sampler": "euler"}}, f"the evaluation's sampler must be one of {', '.join(SAMPLERS)}, got"),
    ({"precision": "fp8"}, "the evaluation's precision must be one of auto, fp32, bf16, fp16, got 'fp8'"),
    ({"metrics": ["fid", "bogus"]}, "unknown metric 'bogus'; choose from " + ", ".join(ALL_METRICS)),
    ({"features": "incepshun"}, "unknown feature extractor 'incepshun'; choose one of"),
]


@pytest.mark.parametrize("fields, message", BAD)
def test_a_bad_setting_is_refused_in_one_line(fields, message):
    with pytest.raises(UserError) as refused:
        EvaluationOptions(**fields)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_defaults_and_normalisation():
    options = EvaluationOptions(metrics=["fid"], sample_options=None)
    assert options.metrics == ("fid",) and options.sample_options == {}
    assert EvaluationOptions().metrics == ALL_METRICS
    # a feature extractor is checked only where a metric needs one
    assert EvaluationOptions(metrics=("likelihood",), features="none-needed").features == "none-needed"


def test_evaluate_run_checks_its_options_and_its_keyword_fields_before_opening_the_run(tmp_path):
    missing = tmp_path / "no-such-run"  # opening it would fail with another message
    with pytest.raises(UserError, match="the evaluation's n must be at least 2"):
        evaluate_run(missing, EvaluationOptions(n=1))
    with pytest.raises(UserError, match="the evaluation's seeds must be at least 1"):
        evaluate_run(missing, seeds=0)
    with pytest.raises(UserError, match="the evaluation's n must be at least 2"):
        evaluate_run(missing, EvaluationOptions(seeds=2), n=1)  # fields replace the options' own


@pytest.mark.parametrize(
    "verb, flag", [("sample", "--sampler"), ("evaluate", "--sampler"), ("sweep", "--eval-sampler")]
)
def test_every_command_offers_the_diffusion_configs_samplers(verb, flag):
    parser = build_parser(verb)
    sub = next(a for a in parser._subparsers._group_actions).choices[verb]
    (action,) = [a for a in sub._actions if flag in a.option_strings]
    assert tuple(action.choices) == SAMPLERS


def test_the_table_calls_a_strided_estimate_an_estimate_and_names_its_stride():
    result = {
        "family": "diffusion",
        "dataset": "digits",
        "n": 10,
        "seeds": [10_000],
        "likelihood": {"nll_vlb_estimate_nats": 101.5, "nll_vlb_estimate_bpd": 2.25, "images": 10, "t_stride": 10},
    }
    table = format_table(result)
    assert "test vlb estimate (t-stride 10): 101.50 nats/image, 2.2500 bits/dim" in table
    assert "bound" not in table
    result["likelihood"] = {"nll_vlb_nats": 99.0, "nll_vlb_bpd": 2.2, "images": 10}
    assert "test vlb bound: 99.00 nats/image, 2.2000 bits/dim" in format_table(result)
