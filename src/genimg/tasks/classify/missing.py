"""Which pixels a classification sees: ``--missing RATE|box|half``, parsed, named and drawn.

A missing-data setting is None (every pixel observed), a fraction in (0, 1] of pixels removed
at random independently per image (exactly round(rate * H * W) of them, the recover task's
``random_mask``), ``box`` (a centre square half the side: 4x4 of an 8x8 digit, 25% of the
pixels, the recover task's ``box_mask``) or ``half`` (the left half, 50%: issue 19's setting;
note that ``genimg recover --mask half`` removes the lower half instead). A mask is a keep-mask,
(N or 1, 1, H, W), 1 where a pixel is observed, shared by the channels.
"""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.tasks.recover.operators import box_mask, random_mask

FIXED_REGIONS = ("box", "half")
HINT = "pass --missing with a fraction of pixels in [0, 1] (e.g. 0.5), box (a centre square) or half (the left half)"

Missing = float | str | None  # a rate in (0, 1], "box", "half", or None: nothing missing


def parse_missing(value: str | float | None) -> Missing:
    """A normalised setting: None for nothing missing (None, "none", 0), a rate, or a region name."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none"):
            return None
        if text in FIXED_REGIONS:
            return text
        try:
            value = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
        except ValueError:
            raise UserError(f"unknown --missing '{value}'; {HINT}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise UserError(f"--missing {value} is out of range; {HINT}")
    return float(value) if value > 0 else None


def missing_tag(missing: Missing) -> str:
    """A name for the setting, fit for a directory: complete, random-25, box, half."""
    if missing is None:
        return "complete"
    if isinstance(missing, str):
        return missing
    return f"random-{round(missing * 100):g}"


def left_half_mask(height: int, width: int) -> torch.Tensor:
    """(1, 1, H, W): the left half missing."""
    keep = torch.ones(1, 1, height, width)
    keep[..., : width // 2] = 0
    return keep


def keep_mask(
    missing: Missing, n: int, height: int, width: int, generator: torch.Generator | None = None
) -> torch.Tensor | None:
    """The keep-mask of a setting for n images (None when nothing is missing); random masks
    are drawn from ``generator``, one per image."""
    if missing is None:
        return None
    if missing == "box":
        return box_mask(height, width)
    if missing == "half":
        return left_half_mask(height, width)
    return random_mask(n, height, width, float(missing), generator)


def missing_fraction(keep: torch.Tensor | None) -> float:
    """The mean fraction of pixels a keep-mask removes."""
    return 0.0 if keep is None else float(1 - keep.float().mean())
