"""A sweep's definition: the base overrides, the swept parameters, the seeds, the evaluation and
the variants, and the ``sweep.json`` that records them beside the run directories.

Imports no torch, like the config layer it builds on: the report reads a sweep through this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genimg.config import RunConfig, apply_overrides, config_for, default_config, resolve_key
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
