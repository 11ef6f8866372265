"""``define_sweep``: a sweep from a family, swept parameters and base overrides, every variant's
config built and checked before anything is written or trained, so a bad key or value fails at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from genimg.config import RunConfig, apply_overrides, config_for, default_config, parse_overrides, resolve_key
from genimg.config.choices import check_choices
from genimg.errors import UserError
from genimg.experiments.sweep.definition import RESERVED_KEYS, Sweep, field_value
from genimg.experiments.sweep.plan import plan_variants, value_in_name


def define_sweep(
    family: str,
    parameters: dict[str, list[Any]],
    *,
    mode: str = "one-at-a-time",
    seeds: int = 1,
    base: dict[str, Any] | list[str] | None = None,
    evaluation: dict[str, Any] | None = None,
    out: str | Path | None = None,
) -> Sweep:
    """Check every variant's config and return the sweep (nothing is written or trained).

    ``parameters`` maps config keys to lists of values. A key with a single value is a base
    override, like one in ``base``. Values are coerced to the field's type (``1`` for a float
    field becomes ``1.0``), so duplicates and the base value are recognised whatever the spelling.
    """
    if isinstance(base, list):
        base = parse_overrides(base)
    base = dict(base or {})
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    default = default_config(family)  # raises on an unknown family
    for key in list(base):
        _check_reserved(default, key)
    base_config = config_for(family, base)  # the preset of the dataset the base names

    swept: dict[str, list[Any]] = {}
    seen_fields: dict[tuple[str, str], str] = {}
    for key, values in parameters.items():
        if not isinstance(values, (list, tuple)):
            values = [values]
        field_id = resolve_key(base_config, key)  # raises with the valid keys
        _check_reserved(base_config, key)
        if field_id in seen_fields:
            raise UserError(f"'{key}' and '{seen_fields[field_id]}' name the same config field; sweep it once")
        seen_fields[field_id] = key
        if len(values) == 1:
            base[key] = values[0]
            continue
        # Coerce through the config so that values compare as the run will see them.
        canonical = []
        for value in values:
            try:
                canonical.append(field_value(apply_overrides(base_config, {key: value}), key))
            except UserError as e:
                raise UserError(f"{key}={value_in_name(value)}: {e}") from None
        duplicates = {value_in_name(v) for v in canonical if canonical.count(v) > 1}
        if duplicates:
            raise UserError(f"parameter '{key}' lists {', '.join(sorted(duplicates))} more than once")
        swept[key] = canonical
    if ("train", "seed") in seen_fields and seeds > 1 and seen_fields[("train", "seed")] in swept:
        raise UserError("sweeping train.seed and --seeds together repeats the same runs; use one of them")
    base_config = config_for(family, base)
    first_seed = base_config.train.seed
    seed_list = [first_seed + i for i in range(seeds)]

    path = Path(out) if out else Path(base_config.train.out) / f"sweep-{family}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    created = dt.datetime.now().isoformat(timespec="seconds")
    sweep = Sweep(family, base, swept, mode, seed_list, evaluation, path, created=created)
    sweep.variants = plan_variants(swept, sweep.base_values(), mode, seed_list)
    swept_seed = seen_fields.get(("train", "seed"))
    if swept_seed in swept:
        for variant in sweep.variants:
            variant.seed = variant.values[swept_seed]
    names = [v.name for v in sweep.variants]
    if len(set(names)) != len(names):
        raise UserError("two variants would share a run directory name; make the listed values distinct")
    for variant in sweep.variants:  # every config is checked before anything trains
        try:
            check_choices(sweep.variant_config(variant, threads=1))  # the data's checks: run_sweep
        except UserError as e:
            raise UserError(f"variant {variant.name}: {e}") from None
    return sweep


def _check_reserved(config: RunConfig, key: str) -> None:
    section, name = resolve_key(config, key)
    if f"{section}.{name}" in RESERVED_KEYS:
        raise UserError(f"{section}.{name} is set by the sweep for every run; use --out DIR to choose where runs go")
