"""The report of a real (tiny) sweep in a real browser: on screen, printed to PDF, and its
effect sentences checked against its own CSV.

The sweep is trained and scored by the real trainer and evaluator with two training seeds, so
the page holds real sample grids, reconstructions, curves, scores and t-tests. The browser is
Debian's chromium through Playwright (never a downloaded browser). Printing is checked where it
can go wrong: with print media at the printable width of the page's own @page size, nothing may
reach past the right edge or be clipped by a scrolling box, and no picture may be taller than a
page; then chromium writes the PDF.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from browser import CHROMIUM, launch
from genimg.experiments.report import build_report
from genimg.experiments.sweep import define_sweep
from test_report_fixtures import check_effect_claims, column_index, parse_table, png

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
MM = 96 / 25.4  # CSS pixels per millimetre
# report.css: @page { size: A4 landscape; margin: 12mm }
PRINT_WIDTH, PRINT_HEIGHT = round((297 - 24) * MM), round((210 - 24) * MM)

OUTSIDE = """(width) => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const name = el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
    if (r.right > width + 1 || r.left < -1) out.push(`${name} spans ${Math.round(r.left)}..${Math.round(r.right)}`);
    const style = getComputedStyle(el);
    if (style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1) out.push(`${name} clips its content`);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory):
    from genimg.experiments.sweep import run_sweep

    sweep = define_sweep(
        "vae",
        {"latent_dim": [2, 8], "beta": [1, 4]},
        seeds=2,
        base=["epochs=2", "likelihood_k=20", "hidden=32", "threads=1", "sample_every=1"],
        out=tmp_path_factory.mktemp("report") / "s",
        evaluation={"features": "classifier", "seed": 0, "n": 100, "seeds": 2, "likelihood_k": 20, "floor_subsets": 2},
    )
    outcome = run_sweep(sweep, quiet=True, report=False)
    assert not outcome.failed, [r.error for r in outcome.failed]
    png(sweep.run_dir(sweep.variants[0]) / "explore" / "traversal.png")
    return sweep, build_report([sweep.path])


def test_a_real_sweeps_effect_sentences_are_true_of_its_csv(real_sweep):
    sweep, out = real_sweep
    page = out.read_text()
    counts = check_effect_claims(page, out.with_suffix(".csv"))
    assert sum(counts.values()) >= 2 * 9 and "unknown" not in counts, counts  # two seeds: every effect is tested
    header, rows, _ = parse_table(page)
    assert len(rows) == len(sweep.groups()) == 3 and all(r[header.index("seeds")] == "2" for r in rows)
    assert all(r[column_index(header, "FID/floor")] != "—" for r in rows)  # scored by the evaluator


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_on_screen_and_prints_to_pdf(real_sweep):
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed at /usr/bin/chromium (scripts/ensure_browser.sh installs it as root)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    sweep, out = real_sweep
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(out.resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
            )
            rows = page.evaluate("document.querySelectorAll('table#metrics tbody tr').length")
            best = page.evaluate("document.querySelectorAll('table#metrics td.best').length")
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

            page.emulate_media(media="print")
            page.set_viewport_size({"width": PRINT_WIDTH, "height": PRINT_HEIGHT})
            outside = page.evaluate(OUTSIDE, PRINT_WIDTH)
            tall = page.evaluate(f"Array.from(document.images).filter(i => i.height > {PRINT_HEIGHT}).map(i => i.alt)")
            page.screenshot(path=str(ARTIFACTS / "report-print.png"), full_page=True)
            pdf = page.pdf(path=str(ARTIFACTS / "report.pdf"), prefer_css_page_size=True, print_background=True)
        finally:
            browser.close()
    # per parameter: a metrics figure, samples and reconstructions for 2 values, learning curves; 1 extra picture
    assert len(images) >= 2 * (1 + 2 + 2 + 1) + 1
    undecoded = [alt for alt, complete, width, height in images if not (complete and width > 0 and height > 0)]
    assert not undecoded, undecoded
    assert rows == 3 and best > 0
    shot = Image.open(ARTIFACTS / "report.png")
    assert shot.width >= 1000 and shot.height > 900
    assert not outside, outside
    assert not tall, tall
    assert pdf.startswith(b"%PDF")
    pages = re.findall(rb"/Type\s*/Page\b(?!s)", pdf)
    boxes = {tuple(round(float(v)) for v in box.split()) for box in re.findall(rb"/MediaBox\s*\[([^\]]+)\]", pdf)}
    assert len(pages) >= 3 and boxes == {(0, 0, 842, 595)}, (len(pages), boxes)  # A4 landscape, in points
