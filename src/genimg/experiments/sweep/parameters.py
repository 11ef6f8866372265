"""Swept parameters from the command line: ``latent_dim=2,8,32 beta=0.5,1`` -> key -> values."""

from __future__ import annotations

from typing import Any

from genimg.config.fields import parse_value
from genimg.errors import UserError


def split_values(text: str) -> list[str]:
    """Split ``2,8,32`` at top-level commas; ``[0.5,0.9],[0.5,0.999]`` keeps its lists whole."""
    parts, depth, current, quote = [], 0, "", None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    if any(not p.strip() for p in parts):
        raise UserError(f"empty value in '{text}'; write values separated by commas, e.g. latent_dim=2,8,32")
    return [p.strip() for p in parts]


def parse_parameters(items: list[str]) -> dict[str, list[Any]]:
    """``["latent_dim=2,8,32", "beta=0.5,1"]`` -> {"latent_dim": [2, 8, 32], "beta": [0.5, 1]}."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise UserError(f"expected key=value1,value2,..., got '{item}' (for example latent_dim=2,8,32)")
        if key in out:
            raise UserError(f"parameter '{key}' is given twice; list all its values once, e.g. {key}=1,2,3")
        out[key] = [parse_value(v) for v in split_values(text)]
    return out
