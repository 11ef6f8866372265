"""`genimg evaluate --metrics human`: the studio's judgements read back as a fooling rate, and
the store they live in (one answer per trial whatever the threads, JSONL imported once, the
staircase threshold of time-limited rounds)."""

import json
import threading

import pytest

from conftest import quick_overrides
from genimg.cli import main
from genimg.config.run_config import apply_overrides, default_config
from genimg.evaluate.evaluator import evaluate_run
from genimg.evaluate.judgements import JudgementStore, judge_score, staircase_threshold
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
    assert (run / "judgements" / "judgements.sqlite").exists()
    assert judge_score(run)["trials"] == 4  # imported once: reading again counts nothing twice


def _answer(trial: int, judge: str = "j", choice: str | None = "left", exposure: int | None = None) -> dict:
    real, fake = {"source": "real", "split": "test", "index": trial}, {"source": "generated", "pool": "p", "index": 0}
    return {"round": "r", "judge": judge, "trial": trial, "left": real, "right": fake, "choice": choice,
            "exposure_ms": exposure}  # fmt: skip


def test_the_store_keeps_one_answer_per_trial_whatever_the_threads(tmp_path):
    store = JudgementStore.open(tmp_path)
    accepted: list[bool] = []
    threads = [threading.Thread(target=lambda: accepted.append(store.add(_answer(0, "twice")))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(accepted) == [False] * 7 + [True] and store.count() == 1
    plan = (
        store._reader()
        .execute(
            "EXPLAIN QUERY PLAN SELECT trial, picked FROM judgements WHERE round = 'r' AND judge = 'x' ORDER BY trial"
        )
        .fetchall()
    )
    assert "USING INDEX one_answer_per_trial" in str(plan)  # found by index, not by reading every answer
    assert store.answers_of("r", "twice") == [(0, "real")]
    store.close()


def test_jsonl_files_are_imported_once_and_again_when_they_grow(tmp_path):
    path = tmp_path / "judgements" / "old.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(_answer(k)) + "\n" for k in range(3)))
    assert judge_score(tmp_path)["records"] == 3 and judge_score(tmp_path)["records"] == 3
    with open(path, "a") as f:
        f.write(json.dumps(_answer(1, choice="right")) + "\n")  # a repeat: the first answer stands
        f.write(json.dumps(_answer(3, choice="right")) + "\n")
    score = judge_score(tmp_path)
    assert score["records"] == 4 and score["fooled"] == 1


def test_a_staircase_threshold_is_the_mean_of_its_turns(tmp_path):
    assert staircase_threshold([300] * 10) is None  # a fixed exposure never turns
    assert staircase_threshold([500, 450, 400, 450, 400, 450, 500, 450]) == pytest.approx(437.5)
    turns = [500, 450, 500, 450, 400, 450, 400, 350, 400]  # turns at 450 500 400 450 350: the first two left out
    assert staircase_threshold(turns) == pytest.approx((400 + 450 + 350) / 3)
    with JudgementStore.open(tmp_path) as store:
        for k, exposure in enumerate(turns):
            store.add(_answer(k, "a", exposure=exposure))
            store.add(_answer(k, "b", exposure=300))
        score = store.score()
    assert score["threshold_ms"] == pytest.approx(400) and score["threshold_judges"] == 1
