"""Which runs a sweep makes, and their directory names.

One-at-a-time: the base run, then each parameter varied alone around it, 1 + sum(len(values) - 1)
runs. Grid: every combination, prod(len(values)) runs. Each is repeated once per seed.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from genimg.errors import UserError
from genimg.experiments.sweep.definition import BASE_NAME, MODES, Variant


def value_in_name(value: Any) -> str:
    """A value as it appears in a run directory's name: short, exact, unique (repr for floats)."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,+\-\[\]]", "_", text)


def variant_name(values: dict[str, Any], changed: list[str]) -> str:
    if not changed:
        return BASE_NAME
    return _safe_name(",".join(f"{k}={value_in_name(values[k])}" for k in changed))


def plan_variants(
    parameters: dict[str, list[Any]], base_values: dict[str, Any], mode: str, seeds: list[int]
) -> list[Variant]:
    """The runs of a sweep, base first. One-at-a-time: 1 + sum(len(values) - 1); grid: prod(len(values))."""
    if mode not in MODES:
        raise UserError(f"sweep mode must be one of {', '.join(MODES)}, got '{mode}'")
    keys = list(parameters)
    settings: list[tuple[dict[str, Any], list[str]]] = []
    if mode == "one-at-a-time":
        settings.append((dict(base_values), []))
        for key in keys:
            for value in parameters[key]:
                if value != base_values[key]:
                    settings.append(({**base_values, key: value}, [key]))
    else:
        for combo in itertools.product(*(parameters[k] for k in keys)):
            settings.append((dict(zip(keys, combo)), list(keys)))
    variants = []
    for values, changed in settings:
        group = variant_name(values, changed)
        for seed in seeds:
            name = group if len(seeds) == 1 else f"{group}-seed{seed}"
            variants.append(Variant(name, values, seed, group))
    return variants
