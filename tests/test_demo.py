"""`make demo` end to end at tiny budgets: every family trained and scored, one report over them."""

from __future__ import annotations

import json

import genimg.demo as demo


def test_the_demo_trains_scores_and_reports_every_family(tmp_path, monkeypatch, capsys):
    quick = ["budget=1s", "fid_every=0", "select_by=last", "likelihood_at_end=false", "sample_every=0"]
    tiny = dict.fromkeys(("vae", "dcgan"), quick) | {"diffusion": [*quick, "monitor_steps=2"]}
    monkeypatch.setitem(demo.DEMO_RUNS, "digits", tiny)
    monkeypatch.setattr(demo.os, "cpu_count", lambda: 1)  # the lanes in this process, one after the other
    demo.main(["--dataset", "digits", "--out", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    for family in ("vae", "dcgan", "diffusion"):
        run = tmp_path / "demo" / family
        assert json.loads((run / "summary.json").read_text())["status"] == "finished"
        assert "fid" in json.loads((run / "eval" / "metrics.json").read_text())["scores"]
    page = (tmp_path / "demo" / "report.html").read_text()
    assert all(family in page for family in ("vae", "dcgan", "diffusion"))
    assert "demo finished in" in out and str(tmp_path / "demo" / "report.html") in out
    assert demo.cpu_name() in out  # the CPU it ran on, and whether it has native bf16
    table = out[out.index("FID/floor") :]
    for family in ("vae", "dcgan", "diffusion"):  # each family's budget, epochs, precision and FID/floor
        row = next(line.split() for line in table.splitlines() if line.strip().startswith(family))
        assert row[1] == "1s" and int(row[2]) >= 1 and row[3] in ("fp32", "bf16") and float(row[4]) > 0
