"""A user's image file (a mask, a stroke painting to edit) opened with one-line errors, not tracebacks."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from genimg.errors import UserError


def open_image_file(path: str | Path, what: str, hint: str) -> Image.Image:
    """The image at ``path``, decoded. ``what`` names it in errors ("mask", "input image") and
    ``hint`` says what to pass instead when it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist; {hint}")
    try:
        image = Image.open(path)
        image.load()  # decode now: Pillow opens lazily, and a broken file would fail later, far from here
    except Exception as e:  # Pillow raises several types for unreadable files
        raise UserError(f"cannot read {what} {path} as an image ({e}); {hint}") from None
    return image
