"""The one browser the browser tests use: Debian's chromium through Playwright (never a
downloaded browser), headless, with nothing that reaches for the network."""

from __future__ import annotations

from pathlib import Path

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


def launch(playwright):
    """chromium, started by ``playwright`` (a sync_playwright() context)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
