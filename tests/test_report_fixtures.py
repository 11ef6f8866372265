"""Made-up run directories for the report's tests, and readers of the report's page and CSV.

A run directory here is written by hand with known numbers, as the trainer and the evaluator
write it (config.yaml, summary.json, metrics.jsonl, eval/metrics.json, pictures), so the tests
need no training and can check every number on the page. The one test below keeps these fakes
honest: they hold the keys the report reads from a real evaluation.
"""

from __future__ import annotations

import csv
import html
import html.parser
import math
import random
import re
from pathlib import Path

from PIL import Image

from genimg.experiments.sweep import define_sweep
from genimg.io import append_jsonl, write_json, write_text

EXTRACTOR = "classifier-digits-0123abcd"
FLOOR_FID = 0.5
PIXELS = 64  # 8x8 digits: bits/dim = nats / (64 ln 2)


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
        "class_entropy": 2.2 - beta / 20,
        "train_time_s": 10.0 + latent,
        "train_cpu_s": 5.0 + latent / 2,
        "parameters": 1000 * latent,
    }


def noisy_scores(values: dict, seed: int) -> dict:
    """Numbers with seed noise of a realistic size per metric: some parameter effects are far
    beyond it, others well within it (FID barely moves with beta here; KID not at all)."""
    rng = random.Random(f"{sorted(values.items())}-{seed}")
    latent, beta = values.get("latent_dim", 16), values.get("beta", 1.0)
    noise = lambda sd: rng.gauss(0, sd)  # noqa: E731
    return {
        "nll": 100 - latent / 2 + noise(0.8),
        "fid": 10 / latent + 0.02 * beta + noise(0.15),
        "kid": 0.004 + noise(0.001),
        "is": 5 + latent / 8 - beta / 2 + noise(0.2),
        "sharpness": 2 + latent / 32 + noise(0.05),
        "diversity": 3 - beta / 4 + noise(0.05),
        "precision": 0.5 + beta / 10 + noise(0.02),
        "recall": 0.9 - beta / 10 + noise(0.02),
        "class_entropy": 2.2 - beta / 20 + noise(0.01),
        "train_time_s": 10.0 + latent + noise(1),
        "train_cpu_s": 5.0 + latent / 2 + noise(0.5),
        "parameters": 1000 * latent,
    }


def fake_evaluation(scores: dict, extractor: str = EXTRACTOR, likelihood: bool = True) -> dict:
    """eval/metrics.json as genimg.evaluate.evaluator writes it (means over its sampling seeds)."""
    keys = ("fid", "kid", "is", "sharpness", "diversity", "precision", "recall", "class_entropy")
    evaluation = {
        "family": "vae",
        "dataset": "digits",
        "n": 447,
        "seeds": [10000, 10001],
        "extractor": extractor,
        "extractor_identity": {"name": extractor.rsplit("-", 1)[0], "test_accuracy": 0.97},
        "scores": {k: {"mean": scores[k], "std": 0.01, "values": [scores[k] - 0.01, scores[k] + 0.01]} for k in keys},
        "floor": {
            "fid": {"mean": FLOOR_FID, "std": 0.1},
            "kid": {"mean": 0.0001, "std": 0.0},
            "is": {"mean": 9.1, "std": 0.1},
            "precision": {"mean": 0.8, "std": 0.01},
            "recall": {"mean": 0.8, "std": 0.01},
        },
        "fid_over_floor": scores["fid"] / FLOOR_FID,
    }
    if likelihood:
        evaluation["likelihood"] = likelihood_record(scores["nll"])
    return evaluation


def likelihood_record(nll: float) -> dict:
    bpd = lambda nats: nats / (PIXELS * math.log(2))  # noqa: E731
    return {
        "nll_elbo_nats": nll + 1.5,
        "nll_elbo_bpd": bpd(nll + 1.5),
        "nll_iw_nats": nll,
        "nll_iw_bpd": bpd(nll),
        "images": 447,
    }


def fake_run(
    path: Path, config, scores: dict, evaluation: dict | None, epochs: int = 3, reconstructs: bool = True
) -> None:
    """A finished run directory with the given numbers, as the trainer and evaluator write them."""
    path.mkdir(parents=True, exist_ok=True)
    write_text(path / "config.yaml", config.to_yaml())
    summary = {
        "family": config.family,
        "parameters": scores["parameters"],
        "epochs_trained": epochs,
        "best_epoch": epochs,
        "train_time_s": scores["train_time_s"],
        "train_cpu_s": scores["train_cpu_s"],
        "finished": True,
    }
    if evaluation is None or "likelihood" in evaluation:
        summary["likelihood"] = likelihood_record(scores["nll"])
    write_json(path / "summary.json", summary)
    for epoch in range(1, epochs + 1):
        append_jsonl(
            path / "metrics.jsonl",
            {"epoch": epoch, "train": {"loss": 200 / epoch}, "val": {"loss": scores["nll"] + 30 / epoch}},
        )
    if evaluation is not None:
        write_json(path / "eval" / "metrics.json", evaluation)
    png(path / "samples.png")
    if reconstructs:
        png(path / "reconstructions.png", color=(200, 60, 60))
    png(path / "samples" / "epoch_0001.png")  # per-epoch grids are not repeated in "more"
    png(path / "explore" / "interpolation.png", color=(20, 160, 60))


def fake_sweep(
    root: Path,
    parameters: dict,
    *,
    mode="one-at-a-time",
    seeds=1,
    extractor_of=lambda v: EXTRACTOR,
    family="vae",
    scores_of=known_scores,
    capable=True,
):
    """A sweep directory of finished, evaluated fake runs; ``capable=False`` makes runs like a
    GAN's: no reconstructions, no likelihood."""
    sweep = define_sweep(
        family, parameters, mode=mode, seeds=seeds, out=root, evaluation={"features": "classifier", "seed": 0, "n": 500}
    )
    root.mkdir(parents=True, exist_ok=True)
    sweep.save()
    expected = {}
    for variant in sweep.variants:
        scores = scores_of(variant.values, variant.seed)
        expected.setdefault(variant.group, []).append(scores)
        evaluation = fake_evaluation(scores, extractor_of(variant), likelihood=capable)
        fake_run(root / variant.name, sweep.variant_config(variant), scores, evaluation, reconstructs=capable)
    return sweep, expected


# ---------------------------------------------------------------------------- reading the page


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


def effect_items(page: str) -> list[tuple[dict[str, str], str]]:
    """Every effect sentence: (its data attributes, its visible text)."""
    items = []
    for attrs, body in re.findall(r'<li class="effect"([^>]*)>(.*?)</li>', page, flags=re.S):
        data = {k: html.unescape(v) for k, v in re.findall(r'data-([a-z]+)="([^"]*)"', attrs)}
        items.append((data, html.unescape(re.sub(r"<[^>]+>", "", body))))
    return items


def read_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """report.csv as (header, {row label: {column: text}})."""
    with open(path, newline="") as f:
        records = list(csv.reader(f))
    header = records[0]
    return header, {r[0]: dict(zip(header, r)) for r in records[1:]}


def _number(text: str) -> float:
    return float(text.replace("\u2212", "-").replace(",", ""))


SENTENCE = re.compile(
    r"(?P<verb>rose|fell) from (?P<a>\S+)(?: ± \S+)? at .+? to (?P<b>\S+)(?: ± \S+)? at .+?: (?P<quality>better|worse);"
)
STATISTIC = re.compile(r"t = (?P<t>\S+), df = (?P<df>\d+), p = (?P<p>[^)]+)\)")


def check_effect_claims(page: str, csv_path: Path) -> dict[str, int]:
    """Recompute every effect sentence of the page from report.csv alone and check what it says:
    the direction, better or worse, the two means, and above all the verdict: "beyond the seed
    noise" only where the pooled t-test on the CSV's means, stds and counts gives p < 0.05.
    Returns how many sentences had each verdict."""
    from scipy import stats

    _, rows = read_csv(csv_path)
    counts: dict[str, int] = {}
    for data, text in effect_items(page):
        column, verdict = data["column"], data["verdict"]
        counts[verdict] = counts.get(verdict, 0) + 1
        first, last = rows[data["from"]], rows[data["to"]]
        a, b = float(first[column]), float(last[column])
        higher = "(higher is better)" in text
        assert "(lower is better)" in text or higher, text
        said = SENTENCE.search(text)
        if a == b:
            assert said is None and "was the same" in text, text
        else:
            assert said, text
            assert said["verb"] == ("rose" if b > a else "fell"), text
            assert said["quality"] == ("better" if (b > a) == higher else "worse"), text
            assert math.isclose(_number(said["a"]), a, rel_tol=1e-3) and math.isclose(
                _number(said["b"]), b, rel_tol=1e-3
            )
        repeated = [(float(r[f"{column} std"]), int(r[f"{column} n"])) for r in rows.values() if r.get(f"{column} std")]
        df = sum(n - 1 for _, n in repeated)
        if df == 0:  # one seed: no claim about the noise may be made
            assert verdict == "unknown" and "seed noise unknown" in text and "beyond" not in text, text
            continue
        pooled = math.sqrt(sum((n - 1) * sd**2 for sd, n in repeated) / df)
        if pooled == 0:
            assert ("beyond the seed noise" in text) == (a != b), text
            continue
        t = (b - a) / (pooled * math.sqrt(1 / int(first[f"{column} n"]) + 1 / int(last[f"{column} n"])))
        p = 2 * stats.t.sf(abs(t), df)
        beyond = "beyond the seed noise" in text
        assert beyond != ("within the seed noise" in text), text
        assert beyond == (p < 0.05) and verdict == ("beyond" if beyond else "within"), (text, t, df, p)
        stat = STATISTIC.search(text)
        assert stat and int(stat["df"]) == df, text
        assert math.isclose(_number(stat["t"]), t, rel_tol=5e-3, abs_tol=1e-9), (text, t)
        assert math.isclose(_number(stat["p"]), p, rel_tol=5e-2, abs_tol=1e-300), (text, p)
    return counts


def test_fake_evaluations_hold_what_the_report_reads_from_a_real_one():
    from genimg.evaluate.evaluator import format_table
    from genimg.experiments.report.collect import run_scores

    evaluation = fake_evaluation(known_scores({}, 0))
    format_table({**evaluation, "family": "vae"})  # the evaluator's own reader accepts it
    scores = run_scores({"train_cpu_s": 120.0}, evaluation)
    assert scores["fid_over_floor"].value == evaluation["scores"]["fid"]["mean"] / FLOOR_FID
    assert scores["fid_over_floor"].spread == 0.01 / FLOOR_FID
    assert scores["nll_bpd"].value == evaluation["likelihood"]["nll_iw_bpd"]  # the tighter bound
    assert scores["train_cpu"].value == 2.0  # minutes
