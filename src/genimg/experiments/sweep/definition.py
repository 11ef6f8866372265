"""A sweep's definition, imports no torch (like the config layer it builds on: the report reads
a sweep through this module):

- ``Sweep`` and ``Variant``: the base overrides, the swept parameters, the seeds, the evaluation
  and the variants, and the ``sweep.json`` that records them beside the run directories;
- swept parameters from the command line (``parse_parameters``: ``latent_dim=2,8,32 beta=0.5,1``
  -> key -> values);
- which runs a sweep makes, and their directory names (``plan_variants``). One-at-a-time: the
  base run, then each parameter varied alone around it, 1 + sum(len(values) - 1) runs. Grid:
  every combination, prod(len(values)) runs. Each is repeated once per seed;
- ``define_sweep``: a sweep from a family, swept parameters and base overrides, every variant's
  config built and checked before anything is written or trained, so a bad key or value fails at once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genimg.config import RunConfig, apply_overrides, config_for, default_config, parse_overrides, resolve_key
from genimg.config.fields import parse_value
from genimg.config.run_config import check_choices
from genimg.errors import UserError
from genimg.io import read_json, write_json

SWEEP_FILE = "sweep.json"
MODES = ("one-at-a-time", "grid")
BASE_NAME = "base"
# Keys the sweep itself sets for every variant; sweeping them would fight the sweep.
RESERVED_KEYS = ("train.out", "train.run_name", "train.progress")
BASE_VALUE_RULE = "a parameter's base value is its value in the base config when listed, else the first listed value"


@dataclass
class Variant:
    """One run of the sweep: a value for every swept parameter, and a seed."""

    name: str  # the run directory's name under the sweep directory
    values: dict[str, Any]  # every swept parameter's value in this run
    seed: int
    group: str  # the name shared by the seeds of one variant (equal to ``name`` with one seed)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "values": self.values, "seed": self.seed, "run_dir": self.name}


@dataclass
class Sweep:
    family: str
    base: dict[str, Any]  # overrides that make the base config from the family's defaults
    parameters: dict[str, list[Any]]  # swept key (as the user wrote it) -> values, in the order given
    mode: str
    seeds: list[int]
    evaluation: dict[str, Any] | None  # keyword arguments of the evaluator, the same for every run; None: no evaluation
    path: Path
    variants: list[Variant] = field(default_factory=list)
    created: str = ""

    # -- configs
    def base_config(self) -> RunConfig:
        return config_for(self.family, dict(self.base))

    def base_values(self) -> dict[str, Any]:
        """Each parameter's value in the base run: its value in the base config when that value
        is listed, otherwise the first listed value."""
        config = self.base_config()
        out = {}
        for key, values in self.parameters.items():
            current = field_value(config, key)
            out[key] = current if current in values else values[0]
        return out

    def variant_overrides(self, variant: Variant) -> dict[str, Any]:
        # The seed first: a swept seed parameter (``seed=0,1``), applied after it, wins.
        overrides = {"train.seed": variant.seed, **variant.values}
        overrides.update({"train.out": str(self.path), "train.run_name": variant.name, "train.progress": False})
        if self.evaluation is not None and not self._sets("train", "likelihood_at_end"):
            overrides["train.likelihood_at_end"] = False  # the evaluation measures it, with the sweep's settings
        return overrides

    def variant_config(self, variant: Variant, threads: int | None = None) -> RunConfig:
        overrides = self.variant_overrides(variant)
        if threads is not None and not self.sets_threads():
            overrides["train.threads"] = threads
        return apply_overrides(self.base_config(), overrides)

    def sets_threads(self) -> bool:
        """Whether the user fixed train.threads (then the sweep leaves it alone)."""
        return self._sets("train", "threads")

    def _sets(self, section: str, name: str) -> bool:
        config = default_config(self.family)
        return any(resolve_key(config, k) == (section, name) for k in [*self.base, *self.parameters])

    def run_dir(self, variant: Variant) -> Path:
        return self.path / variant.name

    def groups(self) -> dict[str, list[Variant]]:
        """Variant groups (the seeds of one setting), in sweep order."""
        out: dict[str, list[Variant]] = {}
        for v in self.variants:
            out.setdefault(v.group, []).append(v)
        return out

    # -- files
    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "base_overrides": self.base,
            # A list, not a mapping: the order the user gave is the order of the report's sections.
            "parameters": [{"key": k, "values": v} for k, v in self.parameters.items()],
            "mode": self.mode,
            "seeds": self.seeds,
            "base_values": self.base_values(),
            "base_value_rule": BASE_VALUE_RULE,
            "evaluation": self.evaluation,
            "created": self.created,
            "variants": [v.to_dict() for v in self.variants],
        }

    def save(self) -> None:
        write_json(self.path / SWEEP_FILE, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Sweep:
        path = Path(path)
        file = path / SWEEP_FILE
        if not file.exists():
            raise UserError(
                f"{path} is not a sweep directory (no {SWEEP_FILE}); pass the directory `genimg sweep` printed"
            )
        fix = (
            f"it records the sweep's definition; restore it from a copy, or define the sweep again with the same "
            f"`genimg sweep` command and --out {path} (finished runs are kept)"
        )
        data = read_json(file, fix)
        try:
            variants = [
                Variant(str(v["name"]), dict(v["values"]), int(v["seed"]), str(v.get("group", v["name"])))
                for v in data["variants"]
            ]
            parameters = {str(p["key"]): list(p["values"]) for p in data["parameters"]}
            sweep = cls(
                str(data["family"]),
                dict(data["base_overrides"]),
                parameters,
                str(data["mode"]),
                [int(s) for s in data["seeds"]],
                data.get("evaluation"),
                path,
                variants,
                str(data.get("created", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise UserError(f"{file} is not a sweep definition ({type(e).__name__}: {e}); {fix}") from None
        if sweep.evaluation is not None and not isinstance(sweep.evaluation, dict):
            raise UserError(f"{file} is not a sweep definition (evaluation is not a mapping); {fix}")
        for variant in sweep.variants:  # a name is a directory under the sweep: never a path elsewhere
            if not variant.name or Path(variant.name).name != variant.name or variant.name in (".", ".."):
                raise UserError(f"{file} names a variant {variant.name!r} that is not a directory name; {fix}")
        return sweep


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).exists()


def recorded_base_values(path: str | Path) -> dict[str, Any] | None:
    """The base values ``sweep.json`` recorded when the sweep was made (None if it has none):
    what the runs were trained with, even if the family's defaults have changed since."""
    data = read_json(Path(path) / SWEEP_FILE, "restore it from a copy, or define the sweep again")
    return data.get("base_values") if isinstance(data, dict) else None


def field_value(config: RunConfig, key: str) -> Any:
    """The value of the field ``key`` names in ``config`` (tuples as lists, as YAML and JSON write them)."""
    section, name = resolve_key(config, key)
    value = getattr(getattr(config, section), name)
    return list(value) if isinstance(value, tuple) else value


# Swept parameters from the command line: ``latent_dim=2,8,32 beta=0.5,1`` -> key -> values.
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


# Which runs a sweep makes, and their directory names.
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
