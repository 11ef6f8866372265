"""Pictures on the page: PNG, JPEG and GIF files embedded as data URIs (the page needs no other file),
side-by-side strips, and the pictures a run holds beyond its samples and reconstructions."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path

from genimg.experiments.report.collect import Row

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
MAX_EMBEDDED_BYTES = 8 * 1024 * 1024  # a larger picture is listed by path instead of embedded
SHOWN_ELSEWHERE = {"samples.png", "reconstructions.png"}


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def img(path: Path, alt: str) -> str:
    mime = IMAGE_TYPES.get(path.suffix.lower())
    size = path.stat().st_size
    if mime is None or size > MAX_EMBEDDED_BYTES:
        return f'<p class="note">{html.escape(str(path))} ({size:,} bytes) is not embedded</p>'
    return f'<img src="{data_uri(path.read_bytes(), mime)}" alt="{html.escape(alt)}">'


def figure(path: Path, caption: str) -> str:
    return f"<figure>{img(path, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def first_picture(row: Row, file: str) -> Path | None:
    """``file`` in the row's first run (its first training seed), if that run has it."""
    run = row.first()
    return run.path / file if run is not None and (run.path / file).exists() else None


def picture_strip(rows: list[Row], file: str, caption_of: Callable[[Row], str]) -> str:
    """The rows' pictures side by side, in the rows' order (the first seed's run). A row without
    the picture is left out rather than shown as an empty cell; empty if no row has one."""
    figures = [figure(path, caption_of(r)) for r in rows if (path := first_picture(r, file)) is not None]
    return f'<div class="strip">{"".join(figures)}</div>' if figures else ""


def other_pictures(run_path: Path) -> list[Path]:
    """Every picture in a run directory that the report does not show elsewhere: explore/,
    recover/, outliers/, eval/ ..., but not checkpoints or the per-epoch training grids."""
    found = []
    for path in sorted(run_path.rglob("*")):
        rel = path.relative_to(run_path)
        if not path.is_file() or path.suffix.lower() not in IMAGE_TYPES or rel.parts[0] == "checkpoints":
            continue
        if len(rel.parts) == 1 and rel.name in SHOWN_ELSEWHERE:
            continue
        if rel.parts[0] == "samples" and rel.name.startswith("epoch_"):
            continue
        found.append(path)
    return found
