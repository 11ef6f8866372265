"""What the variants of a report cost: whether they trained at equal compute (one ``train.budget``
for all, said near the top; otherwise each run's budget in the table), and FID measured during
training against the training CPU-minutes spent, every run on the same axes.

The budget is written into the fake runs' config.yaml by hand (as the trainer writes it), so the
report is checked against runs of any age: old runs have no such key.
"""

from __future__ import annotations

import csv
import json

import yaml

from genimg.experiments.report import build_report
from genimg.experiments.report.collect import collect
from genimg.experiments.report.figures import cost_figure
from genimg.io import append_jsonl
from test_report_fixtures import fake_sweep, parse_table

PARAMETERS = {"latent_dim": [2, 16, 32]}


def set_budget(run_dir, budget: str | None) -> None:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["train"]["budget"] = budget
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def check_fid_every_epoch(run_dir, fids: list[float], cpu_per_epoch_s: float) -> None:
    """metrics.jsonl as the trainer writes it with train.fid_every=1: cumulative CPU and wall
    seconds on every epoch, and the FID of that epoch's check."""
    (run_dir / "metrics.jsonl").unlink()
    for epoch, fid in enumerate(fids, start=1):
        record = {"epoch": epoch, "train": {"loss": 1.0}, "val": {"loss": 1.0}, "fid": fid}
        append_jsonl(run_dir / "metrics.jsonl", {**record, "time_s": 2.0 * epoch, "cpu_s": cpu_per_epoch_s * epoch})


def test_equal_budgets_are_said_near_the_top(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", PARAMETERS)
    for i, variant in enumerate(sweep.variants):
        set_budget(sweep.run_dir(variant), "5m" if i else "300s")  # the same budget, written two ways
    page = build_report([sweep.path]).read_text()
    top = page.split("<h2>")[0]
    assert "All variants trained at equal compute: 5 CPU-minutes each" in top
    assert "not</b> trained at equal compute" not in page
    assert "budget" not in parse_table(page)[0]  # one budget for all: the sentence says it

    for variant in sweep.variants:
        set_budget(sweep.run_dir(variant), "wall:90s")
    page = build_report([sweep.path]).read_text()
    assert "All variants trained at equal compute: 1.5 wall-minutes each" in page.split("<h2>")[0]


def test_unequal_or_missing_budgets_are_said_and_shown_per_run(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", PARAMETERS)
    budgets = {"base": "5m", "latent_dim=2": "10m", "latent_dim=32": None}
    for variant in sweep.variants:
        set_budget(sweep.run_dir(variant), budgets[variant.name])
    summary_path = sweep.run_dir(sweep.variants[0]) / "summary.json"  # summary.json carries it too
    summary = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps({**summary, "budget": "5m", "epochs_trained": 7}))
    out = build_report([sweep.path])
    page = out.read_text()
    assert "The variants were <b>not</b> trained at equal compute: their compute budgets differ" in page
    assert "All variants trained at equal compute" not in page
    header, rows, _ = parse_table(page)
    shown = {r[0]: r[header.index("budget")] for r in rows}
    assert shown == {"base": "5 CPU-minutes", "latent_dim=2": "10 CPU-minutes", "latent_dim=32": "none"}
    assert "train CPU (min)" in [h.rstrip(" ↓↑") for h in header]
    with open(out.with_suffix(".csv"), newline="") as f:
        assert {r["run"]: r["budget"] for r in csv.DictReader(f)} == shown

    # runs from before budgets existed (no key at all): trained by epochs, so not at equal compute
    for variant in sweep.variants:
        config = yaml.safe_load((sweep.run_dir(variant) / "config.yaml").read_text())
        config["train"].pop("budget", None)
        (sweep.run_dir(variant) / "config.yaml").write_text(yaml.safe_dump(config))
    summary_path.write_text(json.dumps(summary))
    page = build_report([sweep.path]).read_text()
    assert "not</b> trained at equal compute: no run had a compute budget" in page
    assert "budget" not in parse_table(page)[0]


def test_fid_against_training_cpu_minutes_one_line_per_run(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", PARAMETERS, seeds=2)
    for i, variant in enumerate(sweep.variants):
        check_fid_every_epoch(sweep.run_dir(variant), [50.0 - i, 30.0, 20.0 + i], cpu_per_epoch_s=6.0 * (i + 1))
    page = build_report([sweep.path]).read_text()
    assert "<h2>Quality against training cost</h2>" in page and 'alt="FID against training CPU-minutes"' in page
    assert "FID against training CPU-minutes for" not in page  # nothing left out

    (group,) = collect([sweep.path])
    figure = cost_figure([(r.label, r.runs) for r in group.rows])
    fid, over_floor = figure.axes  # the fake evaluations used the classifier at train.fid_samples
    assert len(fid.lines) == len(sweep.variants)  # one line per run, two seeds per row
    assert fid.get_legend_handles_labels()[1] == [r.label for r in group.rows]  # each row labelled once
    first = group.rows[0].runs[0]
    x, y = fid.lines[0].get_data()
    assert list(x) == [e["cpu_s"] / 60 for e in first.history] and list(y) == [e["fid"] for e in first.history]
    assert over_floor.get_ylabel() == "FID/floor" and len(over_floor.lines) == len(sweep.variants)


def test_without_fid_during_training_the_cost_figure_is_left_out_and_said(tmp_path):
    sweep, _ = fake_sweep(tmp_path / "s", PARAMETERS)  # the fake runs' histories have no FID
    page = build_report([sweep.path]).read_text()
    assert "Quality against training cost" not in page
    assert "FID against training CPU-minutes for vae: no run measured FID during training" in page
