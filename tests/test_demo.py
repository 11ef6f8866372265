"""`make demo` end to end at tiny budgets: every family trained and scored, one report over them."""

from __future__ import annotations

import json

import genimg.demo as demo


def test_the_demo_trains_scores_and_reports_every_family(tmp_path, monkeypatch, capsys):
    quick = ["epochs=1", "fid_every=0", "select_by=last", "likelihood_at_end=false", "sample_every=0"]
    tiny = dict.fromkeys(("vae", "dcgan", "diffusion"), quick)
    monkeypatch.setitem(demo.DEMO_RUNS, "digits", tiny)
    monkeypatch.setattr(demo, "DEMO_SAMPLING", {"diffusion": {"sampler": "ddim", "steps": 2}})
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
