"""The picture at the top of the README: a report over runs, as chromium shows it, beside the
sample grid of each run. Rebuild it after the shipped models change:

    python scripts/make_readme_banner.py pretrained:vae-mnist-sample pretrained:dcgan-mnist-sample \
        pretrained:diffusion-mnist-sample --out docs/figures/readme-banner.png
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import sync_playwright

from genimg.experiments.report import build_report
from genimg.runs.pretrained_copy import resolve_run_path

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium, never a downloaded browser
VIEW = (1300, 720)  # the part of the report that shows: title, table, the first figures
GRID = 240  # each run's sample grid, scaled to this many pixels a side


def screenshot(page_path: Path) -> Image.Image:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": VIEW[0], "height": VIEW[1]})
        page.goto(page_path.resolve().as_uri())
        png = page.screenshot()
        browser.close()
    return Image.open(io.BytesIO(png)).convert("RGB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories or pretrained:NAME")
    ap.add_argument("--out", type=Path, default=Path("docs/figures/readme-banner.png"))
    args = ap.parse_args()
    paths = [resolve_run_path(run) for run in args.runs]
    report = build_report(paths, paths[0].parent / "readme-report.html")
    shot = screenshot(Path(report))
    banner = Image.new("RGB", (VIEW[0] + GRID + 30, max(VIEW[1], len(paths) * (GRID + 28) + 10)), "white")
    banner.paste(shot, (0, 0))
    draw = ImageDraw.Draw(banner)
    for i, path in enumerate(paths):
        grid = Image.open(path / "samples.png").convert("RGB").resize((GRID, GRID), Image.NEAREST)
        top = 10 + i * (GRID + 28)
        draw.text((VIEW[0] + 15, top), f"{path.name}: samples", fill="black")
        banner.paste(grid, (VIEW[0] + 15, top + 14))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    banner.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
