"""genimg studio in a real browser: Debian's chromium driven through Playwright, as the report's
test does (never a downloaded browser; skipped with a message where chromium is missing).

Two runs, trained briefly and shared by the module: a VAE on the 28x28 MNIST sample (explore,
reconstruct) and a small diffusion model on the 8x8 digits (stroke -> image, the DDIM latent).
The pages run under the studio's Content-Security-Policy, so the page is never asked to
evaluate strings: the tests poll ``window.studio.idle()`` from Python instead.

Screenshots of each page go to test-artifacts/studio-*.png; the stroke test writes the class
match rate it measured to test-artifacts/studio-stroke-rate.json.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the studio extra (fastapi, uvicorn) is not installed")

from browser import CHROMIUM, launch  # noqa: E402
from genimg.data import load_dataset  # noqa: E402
from genimg.data.registry import load_split  # noqa: E402
from genimg.evaluate.classifier import default_classifier  # noqa: E402
from genimg.evaluate.judgements import (
    JudgementStore,  # noqa: E402
    judge_score,  # noqa: E402
)
from genimg.runs.directory import RunDir  # noqa: E402
from genimg.studio import StudioOptions, StudioServer  # noqa: E402
from genimg.tasks.explore import latent_space  # noqa: E402
from genimg.train import apply_overrides, default_config, load_model, train  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
FAST = ["progress=false", "threads=1", "likelihood_at_end=false", "sample_every=0", "patience=null"]
STROKE_THRESHOLD = 0.4  # a test digit's pixels above this are drawn as strokes
STRENGTHS = (0.3, 0.5)  # SDEdit strengths the stroke test measures
SAMPLES = 4


def _train(family: str, out: Path, name: str, *overrides: str) -> Path:
    config = apply_overrides(default_config(family), [f"out={out}", f"run_name={name}", *FAST, *overrides])
    return train(config, quiet=True).run.path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (scripts/ensure_browser.sh installs it)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    out = tmp_path_factory.mktemp("studio-browser-runs")
    return {
        # about 3 s: an MLP VAE on 1,000 MNIST digits, enough for a map with structure
        "vae28": _train(
            "vae", out, "vae28", "data.dataset=mnist-sample", "data.limit=1000", "latent_dim=8", "epochs=2"
        ),
        # about 12 s: enough for SDEdit to keep a drawn digit's class most of the time
        "diffusion8": _train(
            "diffusion", out, "diffusion8", "epochs=25", "timesteps=100", "channels=16", "attention=false",
            "select_by=val_loss", "fid_every=0",
        ),
    }  # fmt: skip


@pytest.fixture(scope="module")
def server(runs):
    with StudioServer(list(runs.values()), StudioOptions(port=0, trials=30)) as running:
        yield running


@pytest.fixture(scope="module")
def browser(runs):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = launch(p)
        yield launched
        launched.close()


class Page:
    """A page with its console watched: every error or uncaught exception is kept."""

    def __init__(self, browser, base: str) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 1000})
        self.base = base.split("?")[0].rstrip("/")
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> Page:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("load")
        return self.settle()

    def settle(self, timeout: float = 120) -> Page:
        """Wait until no request is in flight (three polls in a row)."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 3:
            assert time.monotonic() < deadline, "the page did not settle"
            idle = self.page.evaluate("() => Boolean(window.studio && window.studio.idle())")
            quiet = quiet + 1 if idle else 0
            time.sleep(0.05)
        return self

    def js(self, function: str, *args):
        return self.page.evaluate(function, *args)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"studio-{name}.png"), full_page=True)

    def close(self) -> None:
        assert not self.errors, self.errors
        self.page.close()


def pixels(data_url: str) -> np.ndarray:
    """A PNG data URL as a float array in [0, 1] (H, W) or (H, W, C)."""
    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    return np.asarray(image, dtype=np.float64) / 255.0


def test_every_page_loads_without_console_errors(server, browser):
    visits = {
        "index": "/",
        "explore": "/explore?run=vae28",
        "explore-ddim": "/explore?run=diffusion8",
        "draw": "/draw?run=vae28",
        "draw-strokes": "/draw?run=diffusion8",
        "judge": "/judge?judge=screenshot",
    }
    for name, path in visits.items():
        page = Page(browser, server.url).open(path)
        status = page.js("() => document.getElementById('status').textContent")
        assert "error" not in page.js("() => document.getElementById('status').className"), status
        page.shot(name)
        page.close()


def test_dragging_in_the_latent_map_changes_the_decoded_image(server, browser):
    page = Page(browser, server.url).open("/explore?run=vae28")
    box = page.page.locator("#map").bounding_box()
    start = (box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    end = (box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.45)
    page.page.mouse.move(*start)
    page.page.mouse.down()
    page.page.mouse.move(start[0] + 10, start[1], steps=2)
    page.settle()
    before = page.js("() => document.getElementById('decoded').src")
    page.page.mouse.move(*end, steps=8)
    page.page.mouse.up()
    page.settle()
    after = page.js("() => document.getElementById('decoded').src")
    difference = np.abs(pixels(before) - pixels(after))
    assert difference.max() > 0.05 and difference.mean() > 0.005, "the decoded image did not follow the drag"
    page.close()


def test_interpolation_strip_ends_are_the_reconstructions(server, browser, runs):
    page = Page(browser, server.url).open("/explore?run=vae28")
    indices = page.js("() => window.studio.explore.map.indices")
    labels = page.js("() => window.studio.explore.map.labels")
    a, b = 0, next(i for i, label in enumerate(labels) if label != labels[0])
    for i in (a, b):
        x, y = page.js("(i) => window.studio.explore.view.screenPoint(i)", i)
        page.page.mouse.click(x, y)
        page.settle()
    frames = page.js("() => Array.from(document.querySelectorAll('#strip img.frame')).map(e => e.src)")
    ends = page.js("() => Array.from(document.querySelectorAll('#strip img.end')).map(e => e.src)")
    picked = page.js("() => window.studio.explore.ends.map(e => e.index)")
    assert len(frames) == 10 and len(ends) == 2 and picked == [indices[a], indices[b]]
    model = load_model(runs["vae28"])
    test = load_split(RunDir.open(runs["vae28"]).config().data, "test")
    chosen = test.images[picked]
    with torch.no_grad():
        recon = latent_space(model).reconstruct(chosen).clamp(0, 1).numpy()[:, 0]
    # The PNGs hold 8 bits: equal up to rounding.
    assert np.abs(pixels(frames[0]) - recon[0]).max() <= 0.5 / 255 + 1e-6
    assert np.abs(pixels(frames[-1]) - recon[1]).max() <= 0.5 / 255 + 1e-6
    assert np.abs(pixels(ends[0]) - chosen[0, 0].numpy()).max() <= 0.5 / 255 + 1e-6
    assert np.abs(pixels(frames[0]) - pixels(frames[-1])).max() > 0.05
    page.shot("explore-interpolation")
    page.close()


def _strokes(image: np.ndarray) -> list[tuple[int, int, int]]:
    """A digit as horizontal strokes: (row, first column, last column) of every run of ink."""
    strokes = []
    for row, values in enumerate(image > STROKE_THRESHOLD):
        col = 0
        while col < len(values):
            if values[col]:
                end = col
                while end + 1 < len(values) and values[end + 1]:
                    end += 1
                strokes.append((row, col, end))
                col = end + 1
            else:
                col += 1
    return strokes


def _draw(page: Page, strokes: list[tuple[int, int, int]], size: int) -> None:
    page.page.click("#clear")
    box = page.page.locator("#mask").bounding_box()
    scale = box["width"] / size
    for row, first, last in strokes:
        y = box["y"] + (row + 0.5) * scale
        page.page.mouse.move(box["x"] + (first + 0.5) * scale, y)
        page.page.mouse.down()
        page.page.mouse.move(box["x"] + (last + 0.5) * scale, y, steps=max(1, last - first))
        page.page.mouse.up()


def test_strokes_become_images_of_the_drawn_digit(server, browser):
    """One test digit of each class, drawn as strokes; SDEdit samples classified by the digits
    classifier. The match rate is measured and written down, and must stay well above chance."""
    classifier = default_classifier("digits", epochs=10, progress=False)
    test = load_dataset("digits", "test")
    chosen = [int((test.labels == k).nonzero()[0]) for k in range(10)]
    page = Page(browser, server.url).open("/draw?run=diffusion8")
    page.page.fill("#samples", str(SAMPLES))
    page.page.fill("#sdedit-steps", "20")
    matches = dict.fromkeys(STRENGTHS, 0)
    drawn_correct = 0
    for index in chosen:
        label = int(test.labels[index])
        _draw(page, _strokes(test.images[index, 0].numpy()), 8)
        for strength in STRENGTHS:
            page.js("(s) => { const e = document.getElementById('strength'); e.value = String(s); }", strength)
            page.page.click("#sdedit")
            page.settle()
            sources = page.js("() => Array.from(document.querySelectorAll('#results img.output')).map(e => e.src)")
            drawn = pixels(page.js("() => document.querySelector('#results .input img').src"))
            assert len(sources) == SAMPLES
            outputs = torch.tensor(np.stack([pixels(s) for s in sources]), dtype=torch.float32)[:, None]
            matches[strength] += int((classifier.probabilities(outputs).argmax(1) == label).sum())
        expected = (test.images[index, 0].numpy() > STROKE_THRESHOLD).astype(float)
        # A round brush one pixel wide covers pi/4 of a lone pixel (a dot) and 0.5 + pi/8 of a stroke's end pixel.
        assert np.abs(drawn - expected).max() < 0.25, "the strokes did not reproduce the digit"
        probabilities = classifier.probabilities(torch.tensor(drawn, dtype=torch.float32)[None, None])
        drawn_correct += int(probabilities.argmax(1)) == label
    page.shot("draw-strokes-result")
    page.close()
    rates = {str(s): matches[s] / (len(chosen) * SAMPLES) for s in STRENGTHS}
    record = {
        "digits": len(chosen),
        "samples_per_digit": SAMPLES,
        "steps": 20,
        "class_match_rate": rates,
        "drawn_input_accuracy": drawn_correct / len(chosen),
        "classifier_test_accuracy": classifier.test_accuracy,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "studio-stroke-rate.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"stroke -> image class match: {record}")
    assert drawn_correct >= 8  # the strokes are legible digits
    assert rates[str(STRENGTHS[0])] >= 0.7 and rates[str(STRENGTHS[-1])] >= 0.3  # chance is 0.1


def _answer(page: Page, count: int, start: int) -> None:
    for n in range(count):
        trial = page.js("() => document.body.dataset.trial")
        assert trial == str(start + n), trial
        if n % 2:
            page.page.keyboard.press("ArrowRight" if n % 4 == 1 else "f")
        else:
            page.page.click("#left" if n % 3 else "#right")
        deadline = time.monotonic() + 30
        while page.js("() => document.body.dataset.trial") == trial:
            assert time.monotonic() < deadline, "the next trial did not come"
            time.sleep(0.02)
        page.settle()


def _records(run: Path) -> list[dict]:
    with JudgementStore.open(run) as store:
        return store.records()


def test_a_judging_round_is_recorded_and_continues_after_a_restart(runs, browser):
    paths = list(runs.values())
    options = StudioOptions(port=0, seed=7, trials=30)
    with StudioServer(paths, options) as first:
        page = Page(browser, first.url).open("/judge")
        judge = page.js("() => document.body.dataset.judge")
        _answer(page, 20, 0)
        page.close()
    mine = [r for run in paths for r in _records(run) if r["judge"] == judge]
    assert len(mine) == 20 and sorted(r["trial"] for r in mine) == list(range(20))
    with StudioServer(paths, StudioOptions(port=0, seed=7, trials=30)) as second:  # a restarted server
        page = Page(browser, second.url).open(f"/judge?judge={judge}")
        _answer(page, 3, 20)
        page.close()
    for run in paths:
        records = _records(run)
        mine = [r for r in records if r["judge"] == judge]
        # a hand count: the generated image was picked when the chosen side showed a sample
        fooled = sum(r[r["choice"]]["source"] == "generated" for r in records)
        score = judge_score(run)
        assert score["trials"] == len(records) and score["fooled"] == fooled
        assert score["fooling_rate"] == pytest.approx(fooled / len(records))
        assert all(r["response_ms"] >= 0 and r["left"]["source"] != r["right"]["source"] for r in mine)
    assert sum(1 for run in paths for r in _records(run) if r["judge"] == judge) == 23


def test_the_results_page_follows_answers_live_and_needs_the_token(runs, browser):
    """The teacher's page on a network bind: refused without the token; with it, the rates and
    intervals of judge-score, redrawn in place (no reload) as a judge's answers arrive."""
    import httpx

    with StudioServer(list(runs.values()), StudioOptions(host="0.0.0.0", port=0, seed=9, trials=6)) as server:
        base = f"http://127.0.0.1:{server.port}"
        bare = browser.new_page()
        assert bare.goto(base + "/results").status == 401  # no token, no page
        bare.close()
        assert httpx.get(base + "/api/results.csv").status_code == 401
        page = Page(browser, base)
        page.page.goto(f"{base}/results?token={server.token}&every=200")

        def shown_answers(at_least: int) -> int:
            deadline = time.monotonic() + 20
            while True:
                count = page.js("() => Number(document.body.dataset.answers || -1)")
                if count >= at_least:
                    return count
                assert time.monotonic() < deadline, f"the page shows {count} answers, not {at_least}"
                time.sleep(0.05)

        before = shown_answers(0)
        page.js("() => { window.notReloaded = true; }")
        auth = {"authorization": f"Bearer {server.token}"}
        judge = httpx.post(base + "/api/judge/next", json={}, headers=auth, timeout=60).json()["judge"]
        for k in range(4):
            body = {"judge": judge, "trial": k, "choice": "left" if k % 2 else "right", "response_ms": 300}
            assert httpx.post(base + "/api/judge/answer", json=body, headers=auth).status_code == 200
        assert shown_answers(before + 4) == before + 4 and page.js("() => window.notReloaded") is True
        page.page.wait_for_selector(f"#judges tr[data-judge='{judge}']")
        assert "4 of 6" in page.page.inner_text(f"#judges tr[data-judge='{judge}']")
        for name, run in runs.items():
            score = judge_score(run)
            cells = page.page.locator(f"#scores tr[data-run='{name}'] td").all_inner_texts()
            low, high = score["ci95"]
            assert cells[1] == str(score["trials"]) and cells[3] == f"{100 * score['fooling_rate']:.1f}%"
            assert cells[4] == f"[{100 * low:.1f}%, {100 * high:.1f}%]"
        assert page.page.get_attribute("#csv", "href") == "/api/results.csv"
        page.shot("results")
        page.close()
