"""The comparison report: its table, CSV, highlighting and paragraphs, and the page in a real browser.

Most tests build run directories by hand with known numbers (no training), so every number
on the page can be checked exactly. The browser test loads the page in Debian's chromium
through Playwright (never a downloaded browser) and checks that every picture decodes.
"""

from __future__ import annotations

import csv
import html.parser
import re
import shutil
import statistics
from pathlib import Path

import pytest
from PIL import Image

from genimg.errors import UserError
from genimg.evaluate.directions import higher_is_better
from genimg.experiments.report import build_report
from genimg.experiments.report.formatting import format_cell, format_number
from genimg.experiments.report.metrics import METRICS, Metric
from genimg.experiments.report.table import Cell, best_rows
from genimg.experiments.sweep import define_sweep
from genimg.io import append_jsonl, write_json, write_text

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXTRACTOR = "classifier-digits-0123abcd"


# ---------------------------------------------------------------------------- made-up runs


def png(path: Path, size=(40, 24), color=(30, 90, 200)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def known_scores(values: dict, seed: int) -> dict:
    """Deterministic numbers that depend on the parameters (and a little on the seed)."""
    latent = values.get("latent_dim", 16)
    beta = values.get("beta", 1.0)
    jitter = 0.05 * seed
    return {
        "nll": 100 - latent / 4 + beta + jitter,
        "fid": 10 / latent + beta + jitter,
        "kid": 0.001 * latent + jitter / 100,
        "is": 5 + latent / 8 - beta / 2 + jitter,
        "sharpness": 2 + latent / 32,
        "diversity": 3 - beta / 4,
        "precision": 0.5 + beta / 10,
        "recall": 0.9 - beta / 10,
        "train_time_s": 10.0 + latent,
        "train_cpu_s": 5.0 + latent / 2,
        "parameters": 1000 * latent,
    }


def fake_evaluation(scores: dict, extractor: str = EXTRACTOR) -> dict:
    """eval/metrics.json as genimg.evaluate.evaluator writes it (means over its sampling seeds)."""
    keys = ("fid", "kid", "is", "sharpness", "diversity", "precision", "recall")
    return {
        "family": "vae",
        "dataset": "digits",
        "n": 447,
        "seeds": [10000, 10001],
        "extractor": extractor,
        "extractor_identity": {"name": extractor.rsplit("-", 1)[0], "test_accuracy": 0.97},
        "scores": {k: {"mean": scores[k], "std": 0.01, "values": [scores[k] - 0.01, scores[k] + 0.01]} for k in keys},
        "floor": {
            "fid": {"mean": 0.5, "std": 0.1},
            "kid": {"mean": 0.0001, "std": 0.0},
            "is": {"mean": 9.1, "std": 0.1},
            "precision": {"mean": 0.8, "std": 0.01},
            "recall": {"mean": 0.8, "std": 0.01},
        },
    }


def fake_run(path: Path, config, scores: dict, evaluation: dict | None, epochs: int = 3) -> None:
    """A finished run directory with the given numbers, as the trainer and evaluator write them."""
    path.mkdir(parents=True, exist_ok=True)
    write_text(path / "config.yaml", config.to_yaml())
    write_json(
        path / "summary.json",
        {
            "family": config.family,
            "parameters": scores["parameters"],
            "epochs_trained": epochs,
            "best_epoch": epochs,
            "train_time_s": scores["train_time_s"],
            "train_cpu_s": scores["train_cpu_s"],
            "finished": True,
            "likelihood": {"nll_elbo_nats": scores["nll"] + 1.5, "nll_iw_nats": scores["nll"], "images": 447},
        },
    )
    for epoch in range(1, epochs + 1):
        append_jsonl(
            path / "metrics.jsonl",
            {"epoch": epoch, "train": {"loss": 200 / epoch}, "val": {"loss": scores["nll"] + 30 / epoch}},
        )
    if evaluation is not None:
        write_json(path / "eval" / "metrics.json", evaluation)
    png(path / "samples.png")
    png(path / "reconstructions.png", color=(200, 60, 60))
    png(path / "samples" / "epoch_0001.png")  # per-epoch grids are not repeated in "more"
    png(path / "explore" / "interpolation.png", color=(20, 160, 60))


def fake_sweep(root: Path, parameters: dict, *, mode="one-at-a-time", seeds=1, extractor_of=lambda v: EXTRACTOR):
    sweep = define_sweep(
        "vae", parameters, mode=mode, seeds=seeds, out=root, evaluation={"features": "classifier", "seed": 0, "n": 500}
    )
    root.mkdir(parents=True, exist_ok=True)
    sweep.save()
    expected = {}
    for variant in sweep.variants:
        scores = known_scores(variant.values, variant.seed)
        expected.setdefault(variant.group, []).append(scores)
        evaluation = fake_evaluation(scores, extractor_of(variant))
        fake_run(root / variant.name, sweep.variant_config(variant), scores, evaluation)
    return sweep, expected


class TableParser(html.parser.HTMLParser):
    """The metrics table as text cells, with the classes of each cell."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.rows: list[list[str]] = []
        self.classes: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "metrics":
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
            self.classes.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []
            self.classes[-1].append(attrs.get("class") or "")

    def handle_endtag(self, tag):
        if tag == "table" and self.inside:
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def parse_table(page: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    parser = TableParser()
    parser.feed(page)
    return parser.rows[0], parser.rows[1:], parser.classes[1:]


def column_index(header: list[str], title: str) -> int:
    matches = [i for i, h in enumerate(header) if h.rsplit(" ", 1)[0] == title]
    assert len(matches) == 1, (title, header)
    return matches[0]


# ---------------------------------------------------------------------------- unit tests


def test_best_value_respects_each_columns_direction():
    assert best_rows([3.0, 1.0, None, 2.0], "lower") == {1}
    assert best_rows([3.0, 1.0, None, 2.0], "higher") == {0}
    assert best_rows([2.0, 2.0, 5.0], "lower") == {0, 1}  # ties all count
    assert best_rows([None, 4.0, None], "lower") == set()  # nothing to compare against
    assert best_rows([0.0, 0.0, None], "higher") == set()  # all equal: nothing stands out
    assert format_number(None) == "—"
    assert format_number(440416, integer=True) == "440,416"
    assert format_number(-0.5) == "−0.5"
    assert format_cell(Cell(3.14159, 0.0271, 3), Metric("fid", "FID")) == "3.142 ± 0.0271"


def test_each_columns_direction_is_the_one_genimg_evaluate_declares():
    directions = {m.key: m.better for m in METRICS}
    assert directions["fid"] == directions["kid"] == directions["nll"] == directions["train_time"] == "lower"
    assert directions["is"] == directions["precision"] == directions["recall"] == "higher"
    assert directions["parameters"] == "lower"  # the smaller model, other things equal
    for metric in METRICS:
        declared = higher_is_better(metric.key)
        if declared is not None:
            assert metric.higher_is_better is declared, metric.key


def test_table_highlights_the_right_cells_and_csv_equals_the_table(tmp_path):
    sweep, expected = fake_sweep(tmp_path / "s", {"latent_dim": [2, 16, 32], "beta": [0.5, 1, 4]})
    out = build_report([sweep.path])
    page = out.read_text()
    header, rows, classes = parse_table(page)
    assert [r[0] for r in rows] == [v.name for v in sweep.variants]  # one row per run
    checks = {
        "NLL bound (nats/image)": ("nll", min),
        "FID": ("fid", min),
        "KID": ("kid", min),
        "IS": ("is", max),
        "IS sharpness S": ("sharpness", max),
        "IS diversity D": ("diversity", max),
        "precision": ("precision", max),
        "recall": ("recall", max),
        "train time (s)": ("train_time_s", min),
        "parameters": ("parameters", min),
    }
    for title, (key, pick) in checks.items():
        c = column_index(header, title)
        truth = [expected[r[0]][0][key] for r in rows]
        best = pick(truth)
        highlighted = {i for i, cls in enumerate(classes) if "best" in cls[c].split()}
        assert highlighted == ({i for i, v in enumerate(truth) if v == best} if len(set(truth)) > 1 else set()), title
        for r, value in zip(rows, truth):
            assert r[c] == format_number(value, integer=key == "parameters"), (title, r[0])
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


def test_paragraph_numbers_match_the_metrics(tmp_path):
    sweep, expected = fake_sweep(tmp_path / "s", {"latent_dim": [2, 16, 32], "beta": [0.5, 1, 4]})
    page = build_report([sweep.path]).read_text()
    paragraphs = re.findall(r'<p class="summary">(.*?)</p>', page, flags=re.S)
    latent = next(p for p in paragraphs if p.startswith("Raising latent_dim"))
    low, high = expected["latent_dim=2"][0], expected["latent_dim=32"][0]
    fid_change = (high["fid"] - low["fid"]) / low["fid"] * 100
    assert latent.startswith("Raising latent_dim from 2 to 32 lowered NLL bound (nats/image) from")
    fid_text = f"lowered FID from {format_number(low['fid'])} to {format_number(high['fid'])} (−{abs(fid_change):.0f}%)"
    assert fid_text in latent
    assert f"raised IS from {format_number(low['is'])} to {format_number(high['is'])}" in latent
    assert f"lowered NLL bound (nats/image) from {format_number(low['nll'])} to {format_number(high['nll'])}" in latent
    parameters = f"{format_number(low['parameters'], True)} to {format_number(high['parameters'], True)}"
    assert f"raised parameters from {parameters}" in latent
    beta = next(p for p in paragraphs if p.startswith("Raising beta"))
    low, high = expected["beta=0.5"][0], expected["beta=4.0"][0]
    assert f"raised FID from {format_number(low['fid'])} to {format_number(high['fid'])}" in beta
    assert f"left parameters unchanged at {format_number(low['parameters'], True)}" in beta
    # every number in the paragraph is one of the metrics (or a parameter value, or a percent)
    numbers = {format_number(v, k == "parameters") for scores in expected.values() for k, v in scores[0].items()}
    for token in re.findall(r"[−\d][\d,.e−]*", latent.replace("(", " ").replace(")", " ")):
        token = token.rstrip(".,")
        assert token in numbers or token in {"2", "16", "32"} or f"{token}%" in latent, token


def test_seeds_show_mean_and_std_and_say_when_a_change_is_within_one_std(tmp_path):
    sweep, expected = fake_sweep(tmp_path / "s", {"latent_dim": [16, 17], "beta": [1, 2]}, seeds=3)
    page = build_report([sweep.path]).read_text()
    header, rows, _ = parse_table(page)
    assert [r[0] for r in rows] == ["base", "latent_dim=17", "beta=2.0"]
    c = column_index(header, "FID")
    fids = [s["fid"] for s in expected["base"]]
    assert rows[0][c] == f"{format_number(statistics.fmean(fids))} ± {format_number(statistics.stdev(fids))}"
    assert rows[0][header.index("seeds")] == "3"
    latent = re.search(r"Raising latent_dim from 16 to 17 (.*?)</p>", page).group(1)
    # latent 16 -> 17 moves FID by 10/16 - 10/17 = 0.037, less than the seeds' std of 0.05
    assert re.search(
        r"lowered FID from [\d.]+ ± .*?\(within one std of the seeds\)"
        r"|lowered FID from [\d.]+ to [\d.]+ \([^)]*\) \(within one std of the seeds\)",
        latent,
    )
    beta = re.search(r"Raising beta from 1 to 2 (.*?)</p>", page).group(1)
    assert re.search(r"raised FID from [\d.]+ to [\d.]+ \(\+\d+%\)(?! \(within)", beta)


def test_scores_from_different_extractors_never_share_a_column(tmp_path):
    other = "inception-v3-fid-deadbeef"
    sweep, expected = fake_sweep(
        tmp_path / "s",
        {"latent_dim": [2, 16, 32]},
        extractor_of=lambda v: other if v.values["latent_dim"] == 32 else EXTRACTOR,
    )
    page = build_report([sweep.path]).read_text()
    header, rows, classes = parse_table(page)
    a, b = column_index(header, f"FID [{EXTRACTOR}]"), column_index(header, f"FID [{other}]")
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
    assert rows[1][column_index(header, "FID")] == "—"
    assert "Not started or not found yet: latent_dim=32" in page


# ---------------------------------------------------------------------------- the browser


def _launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_a_real_browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed at /usr/bin/chromium (scripts/ensure_browser.sh installs it as root)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from genimg.experiments.sweep import run_sweep

    # A real (tiny) sweep, trained and scored by the real evaluator, so the page holds real
    # sample grids, reconstructions, curves and scores.
    sweep = define_sweep(
        "vae",
        {"latent_dim": [2, 8], "beta": [1, 4]},
        base=["epochs=3", "likelihood_k=20", "hidden=32", "threads=1", "sample_every=1"],
        out=tmp_path / "s",
        evaluation={"features": "classifier", "seed": 0, "n": 100, "seeds": 2, "likelihood_k": 20, "floor_subsets": 2},
    )
    outcome = run_sweep(sweep, quiet=True, report=False)
    assert not outcome.failed, [r.error for r in outcome.failed]
    png(tmp_path / "s" / "base" / "explore" / "traversal.png")
    out = build_report([sweep.path])
    with sync_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(out.resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
            )
            rows = page.evaluate("document.querySelectorAll('table#metrics tbody tr').length")
            best = page.evaluate("document.querySelectorAll('table#metrics td.best').length")
            artifacts = REPO / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        finally:
            browser.close()
    # samples + reconstructions for 2 parameters x 2 values, 2 curve figures, 1 extra picture
    assert len(images) >= 4 * 2 + 2 + 1
    undecoded = [alt for alt, complete, width, height in images if not (complete and width > 0 and height > 0)]
    assert not undecoded, undecoded
    assert rows == len(sweep.variants) == 3
    assert best > 0
    header, table_rows, _ = parse_table(out.read_text())
    assert all(row[column_index(header, "FID")] != "—" for row in table_rows)  # scored by the evaluator
    shot = Image.open(REPO / "test-artifacts" / "report.png")
    assert shot.width >= 1000 and shot.height > 900
