"""The comparison report's metrics table and CSV: the cells, their highlighting, FID/floor,
the columns per feature extractor, several inputs in one report, and what is left out.

Run directories are made by hand with known numbers (no training), so every number on the page
can be checked exactly.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import statistics

import pytest

from genimg.errors import UserError
from genimg.evaluate.directions import higher_is_better
from genimg.experiments.report import build_report
from genimg.experiments.report.table import METRICS, Cell, Metric, best_rows, format_cell, format_number
from test_report_fixtures import (
    EXTRACTOR,
    FLOOR_FID,
    PIXELS,
    fake_evaluation,
    fake_run,
    fake_sweep,
    known_scores,
    parse_table,
    png,
)
from test_report_fixtures import column_index as column


def test_best_value_respects_each_columns_direction():
    assert best_rows([3.0, 1.0, None, 2.0], "lower") == {1}
    assert best_rows([3.0, 1.0, None, 2.0], "higher") == {0}
    assert best_rows([2.0, 2.0, 5.0], "lower") == {0, 1}  # ties all count
    assert best_rows([None, 4.0, None], "lower") == set()  # nothing to compare against
    assert best_rows([0.0, 0.0, None], "higher") == set()  # all equal: nothing stands out
    assert format_number(None) == "—"
    assert format_number(440416, integer=True) == "440,416"
    assert format_number(-0.5) == "−0.5"
    assert format_cell(Cell(3.14159, 0.0271, 3), Metric("fid", "FID")) == "3.142 ± 0.027"


def test_each_columns_direction_is_the_one_genimg_evaluate_declares():
    directions = {m.key: m.better for m in METRICS}
    assert directions["fid"] == directions["kid"] == directions["nll_bpd"] == directions["train_cpu"] == "lower"
    assert directions["fid_over_floor"] == "lower"
    assert directions["is"] == directions["precision"] == directions["recall"] == "higher"
    assert directions["parameters"] == "lower"  # the smaller model, other things equal
    for metric in METRICS:
        declared = higher_is_better(metric.key)
        assert declared is not None, metric.key
        assert metric.higher_is_better is declared, metric.key


def test_table_highlights_the_right_cells_and_csv_equals_the_table(tmp_path):
    sweep, expected = fake_sweep(tmp_path / "s", {"latent_dim": [2, 16, 32], "beta": [0.5, 1, 4]})
    out = build_report([sweep.path])
    page = out.read_text()
    header, rows, classes = parse_table(page)
    assert [r[0] for r in rows] == [v.name for v in sweep.variants]  # one row per run
    bpd = lambda s: s["nll"] / (PIXELS * math.log(2))  # noqa: E731  (the tighter of the two bounds)
    checks = {
        "test NLL bound (bits/dim)": (bpd, min),
        "FID": (lambda s: s["fid"], min),
        "FID/floor": (lambda s: s["fid"] / FLOOR_FID, min),
        "KID": (lambda s: s["kid"], min),
        "IS": (lambda s: s["is"], max),
        "IS sharpness S": (lambda s: s["sharpness"], max),
        "IS diversity D": (lambda s: s["diversity"], max),
        "precision": (lambda s: s["precision"], max),
        "recall": (lambda s: s["recall"], max),
        "class entropy (nats)": (lambda s: s["class_entropy"], max),
        "train time (s)": (lambda s: s["train_time_s"], min),
        "train CPU (min)": (lambda s: s["train_cpu_s"] / 60, min),
        "parameters": (lambda s: s["parameters"], min),
    }
    assert [h.rstrip(" ↓↑") for h in header[3:]] == list(checks)
    for title, (value_of, pick) in checks.items():
        c = column(header, title)
        truth = [value_of(expected[r[0]][0]) for r in rows]
        best = pick(truth)
        highlighted = {i for i, cls in enumerate(classes) if "best" in cls[c].split()}
        assert highlighted == ({i for i, v in enumerate(truth) if v == best} if len(set(truth)) > 1 else set()), title
        for r, value in zip(rows, truth):
            assert r[c] == format_number(value, integer=title == "parameters"), (title, r[0])
    # report.csv: the same rows and columns; its numbers print as the table's cells.
    with open(out.with_suffix(".csv"), newline="") as f:
        records = list(csv.reader(f))
    assert [h.rstrip(" ↓↑") for h in header] == records[0]
    assert len(records) == len(rows) + 1
    for row, record in zip(rows, records[1:]):
        assert row[:3] == record[:3]
        for title, text in zip(header[3:], record[3:]):
            integer = title.startswith("parameters")
            assert row[header.index(title)] == (format_number(float(text), integer) if text else "—")


def test_seeds_show_mean_and_std_and_the_csv_holds_std_and_count(tmp_path):
    sweep, expected = fake_sweep(tmp_path / "s", {"latent_dim": [16, 17], "beta": [1, 2]}, seeds=3)
    out = build_report([sweep.path])
    header, rows, _ = parse_table(out.read_text())
    assert [r[0] for r in rows] == ["base", "latent_dim=17", "beta=2.0"]
    fids = [s["fid"] for s in expected["base"]]
    assert (
        rows[0][column(header, "FID")]
        == f"{format_number(statistics.fmean(fids))} ± {format_number(statistics.stdev(fids))}"
    )
    assert rows[0][header.index("seeds")] == "3"
    with open(out.with_suffix(".csv"), newline="") as f:
        base = next(r for r in csv.DictReader(f) if r["run"] == "base")
    assert float(base["FID std"]) == pytest.approx(statistics.stdev(fids)) and base["FID n"] == "3"
    assert float(base["FID/floor"]) == pytest.approx(statistics.fmean(fids) / FLOOR_FID)


def test_scores_from_different_extractors_never_share_a_column(tmp_path):
    other = "inception-v3-fid-deadbeef"
    sweep, expected = fake_sweep(
        tmp_path / "s",
        {"latent_dim": [2, 16, 32]},
        extractor_of=lambda v: other if v.values["latent_dim"] == 32 else EXTRACTOR,
    )
    page = build_report([sweep.path]).read_text()
    header, rows, classes = parse_table(page)
    a, b = column(header, f"FID [{EXTRACTOR}]"), column(header, f"FID [{other}]")
    assert not any(h.rsplit(" ", 1)[0] == "FID" for h in header)
    by_name = {r[0]: r for r in rows}
    assert by_name["latent_dim=32"][a] == "—"
    assert by_name["latent_dim=32"][b] == format_number(expected["latent_dim=32"][0]["fid"])
    assert by_name["base"][b] == "—"
    assert "different feature extractors" in page


def test_unrelated_runs_and_several_sweeps_in_one_report(tmp_path):
    vae, _ = fake_sweep(tmp_path / "hw-vae", {"latent_dim": [2, 16]})
    single = tmp_path / "loose" / "diffusion-run"
    from genimg.config.run_config import default_config

    scores = known_scores({"latent_dim": 8}, 0)
    fake_run(single, default_config("vae"), scores, fake_evaluation(scores))
    out = build_report([vae.path, single], tmp_path / "both" / "cmp.html")
    assert out == tmp_path / "both" / "cmp.html" and out.with_suffix(".csv").exists()
    _, rows, _ = parse_table(out.read_text())
    assert [r[0] for r in rows] == ["hw-vae/base", "hw-vae/latent_dim=2", "diffusion-run"]
    assert "ranged from" in out.read_text()
    with pytest.raises(UserError, match="neither a sweep directory"):
        build_report([tmp_path / "both"])
    with pytest.raises(UserError, match="does not exist"):
        build_report([tmp_path / "nowhere"])


def test_report_is_self_contained_and_lists_every_other_picture(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", {"latent_dim": [2, 16]})
    png(tmp_path / "s" / "base" / "recover" / "inpainting" / "comparison.png")
    page = build_report([sweep.path]).read_text()
    srcs = re.findall(r'<img[^>]*src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(href|src)="(?!data:)', page) and "<script" not in page and "<link" not in page
    assert "explore/interpolation.png" in page and "recover/inpainting/comparison.png" in page
    assert "epoch_0001.png" not in page
    assert "latent_dim" in page and "base overrides" in page and "n=500" in page


def test_missing_values_and_unstarted_runs(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", {"latent_dim": [2, 16, 32]})
    shutil.rmtree(tmp_path / "s" / "latent_dim=32")
    (tmp_path / "s" / "latent_dim=2" / "eval" / "metrics.json").unlink()
    page = build_report([sweep.path]).read_text()
    header, rows, _ = parse_table(page)
    assert [r[0] for r in rows] == ["base", "latent_dim=2"]
    assert rows[1][column(header, "FID")] == "—"
    assert "Not started or not found yet: latent_dim=32" in page


def test_human_judgements_show_their_fooling_rate_beside_fid(tmp_path):
    """Where people judged a run in the studio, the report shows its fooling rate; elsewhere the
    column is left out rather than filled with dashes."""
    import json

    from genimg.config.run_config import default_config

    scores = known_scores({}, seed=0)
    for name in ("judged", "unjudged"):
        fake_run(tmp_path / name, default_config("vae"), scores, fake_evaluation(scores))
    trials = [("left", "right"), ("right", "left"), ("left", "left"), ("right", "right")]  # (real side, choice)
    lines = []  # the first two picked the generated image: a fooling rate of 2/4
    for i, (real_side, choice) in enumerate(trials):
        other = "right" if real_side == "left" else "left"
        lines.append(
            json.dumps(
                {
                    "format": "1",
                    "run": "judged",
                    "round": "r",
                    "seed": 0,
                    "trial": i,
                    "judge": "j",
                    real_side: {"source": "real", "split": "test", "index": i},
                    other: {"source": "generated", "pool": "p", "index": i},
                    "choice": choice,
                    "response_ms": 500,
                    "time_limit_s": None,
                    "time": "2026-11-30T00:00:00Z",
                }
            )
        )
    (tmp_path / "judged" / "judgements").mkdir()
    (tmp_path / "judged" / "judgements" / "j.jsonl").write_text("\n".join(lines) + "\n")
    page = build_report([tmp_path / "judged", tmp_path / "unjudged"], tmp_path / "r.html").read_text()
    header, rows, _ = parse_table(page)
    col = column(header, "fooling rate (human, 50% = real)")
    assert float(rows[0][col].rstrip("%")) == pytest.approx(0.5) and rows[1][col] in ("", "\u2014")
    only_unjudged = build_report([tmp_path / "unjudged"], tmp_path / "u.html").read_text()
    assert "fooling rate" not in parse_table(only_unjudged)[0]


def test_a_strided_likelihood_estimate_never_lands_in_the_bound_column(tmp_path):
    """A diffusion run scored with --t-stride records an estimate of its bound (nll_vlb_estimate_*,
    with the stride): it is no bound, so the bound column must never show it."""
    import json

    from genimg.config.run_config import default_config
    from genimg.experiments.report.collect import likelihood_scores

    estimate = {"nll_vlb_estimate_nats": 90.0, "nll_vlb_estimate_bpd": 2.03, "t_stride": 10, "images": 447}
    assert set(likelihood_scores(estimate)) == {"nll_estimate", "nll_estimate_bpd"}
    scores = known_scores({}, seed=0)
    for name in ("estimated", "bounded", "both"):
        evaluation = fake_evaluation(scores)
        if name != "bounded":
            evaluation["likelihood"] = dict(estimate)
        fake_run(tmp_path / name, default_config("vae"), scores, evaluation)
    summary = json.loads((tmp_path / "estimated" / "summary.json").read_text())
    del summary["likelihood"]  # "both" keeps the bound training ended with, beside its estimate
    (tmp_path / "estimated" / "summary.json").write_text(json.dumps(summary))

    out = build_report([tmp_path / n for n in ("estimated", "bounded", "both")], tmp_path / "r.html")
    page = out.read_text()
    header, rows, _ = parse_table(page)
    bound, est = column(header, "test NLL bound (bits/dim)"), column(header, "test NLL estimate (bits/dim)")
    by_name = {r[0]: r for r in rows}
    bound_bpd = format_number(scores["nll"] / (PIXELS * math.log(2)))
    assert by_name["estimated"][bound] == "—" and by_name["estimated"][est] == "2.03"
    assert by_name["bounded"][bound] == bound_bpd and by_name["bounded"][est] == "—"
    assert by_name["both"][bound] == bound_bpd and by_name["both"][est] == "2.03"
    assert 'title="vlb estimate, t-stride 10, 90.00 nats/image">2.03<' in page
    assert "(vlb estimate, t-stride 10) is not a bound" in page
    assert "test NLL bound for vae" not in page  # an estimate still says the family has a likelihood
    with open(out.with_suffix(".csv"), newline="") as f:
        records = {r["run"]: r for r in csv.DictReader(f)}
    assert records["estimated"]["test NLL bound (bits/dim)"] == "" and records["both"]["test NLL estimate (bits/dim)"]
