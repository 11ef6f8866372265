"""`genimg evaluate --metrics human`: the studio's judgements read back as a fooling rate."""

import json

import pytest

from conftest import quick_overrides
from genimg.cli import main
from genimg.config.run_config import apply_overrides, default_config
from genimg.evaluate.evaluator import evaluate_run
from genimg.train.trainer import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("human")
    config = apply_overrides(default_config("vae"), quick_overrides(out, "vae", epochs=1) + ["data.limit=64"])
    return train(config, quiet=True).run.path


def _judge(run, choices):
    """One round of trials with the real image on the left; ``choices`` says which side was picked."""
    lines = [
        json.dumps(
            {
                "format": "1",
                "run": "vae",
                "round": "r",
                "seed": 0,
                "trial": i,
                "judge": "j",
                "left": {"source": "real", "split": "test", "index": i},
                "right": {"source": "generated", "pool": "p", "index": i},
                "choice": choice,
                "response_ms": 400,
                "time_limit_s": None,
                "time": "2026-11-30T00:00:00Z",
            }
        )
        for i, choice in enumerate(choices)
    ]
    (run / "judgements").mkdir(exist_ok=True)
    (run / "judgements" / "round.jsonl").write_text("\n".join(lines) + "\n")


def test_no_judgements_is_a_one_line_refusal(run, capsys):
    assert main(["evaluate", str(run), "--metrics", "human"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "genimg studio" in err[0]


def test_the_fooling_rate_is_counted_from_the_judgements(run, capsys):
    _judge(run, ["right", "left", "right", "left", None])  # 2 of 4 answers picked the generated image
    result = evaluate_run(run, metrics=("human",), log=print)
    assert result["human"]["trials"] == 4 and result["human"]["fooling_rate"] == pytest.approx(0.5)
    assert result["human"]["timeouts"] == 1
    assert "fooling rate 50.0%" in capsys.readouterr().out
