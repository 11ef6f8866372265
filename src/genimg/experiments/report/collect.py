"""The report's inputs gathered: each sweep directory becomes a group with one row per variant
(its runs, one per seed); single run directories given together share one group."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genimg.errors import UserError
from genimg.experiments.report.records import RunRecord, read_run
from genimg.experiments.sweep.definition import Sweep, is_sweep_dir, recorded_base_values


@dataclass
class Row:
    """One line of the table: a variant, with its runs (one per seed)."""

    label: str
    runs: list[RunRecord]
    values: dict[str, Any] = field(default_factory=dict)  # swept parameter values

    @property
    def family(self) -> str:
        return self.runs[0].family if self.runs else "?"

    def first(self) -> RunRecord | None:
        return self.runs[0] if self.runs else None


@dataclass
class Group:
    """One input of the report: a sweep, or the single runs given together."""

    title: str
    rows: list[Row]
    sweep: Sweep | None = None
    base_values: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # variants with no run directory yet

    def parameter_slices(self) -> list[tuple[str, list[Row]]]:
        """Per swept parameter, the rows where every other parameter has its base value, ordered
        by value (ascending when the values are numbers, else as listed)."""
        if self.sweep is None:
            return []
        out = []
        for key, values in self.sweep.parameters.items():
            rows = [r for r in self.rows if r.values and self._others_at_base(r, key)]
            order = sorted(values) if all_numbers(values) else list(values)
            rows.sort(key=lambda r: _index(order, r.values.get(key)))
            out.append((key, rows))
        return out

    def _others_at_base(self, row: Row, key: str) -> bool:
        """Whether every swept parameter but ``key`` has its base value in ``row``."""
        return all(row.values.get(k) == v for k, v in self.base_values.items() if k != key)


def all_numbers(values: Iterable[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _index(order: list[Any], value: Any) -> int:
    return order.index(value) if value in order else len(order)


def collect(paths: list[str | Path]) -> list[Group]:
    """Read every input: a sweep directory becomes a group; single run directories share one."""
    if not paths:
        raise UserError("give at least one sweep or run directory, e.g. genimg report runs/sweep-vae-...")
    groups: list[Group] = []
    singles: list[Row] = []
    for path in map(Path, paths):
        if is_sweep_dir(path):
            groups.append(_sweep_group(Sweep.load(path)))
        elif (path / "config.yaml").exists():
            singles.append(Row(path.name, [read_run(path)]))
        elif path.exists():
            raise UserError(f"{path} is neither a sweep directory (sweep.json) nor a run directory (config.yaml)")
        else:
            raise UserError(f"{path} does not exist; pass sweep or run directories")
    if singles:
        _disambiguate(singles)
        groups.append(Group("compared runs", singles))
    if len(groups) > 1:  # labels must stay unique in the combined table
        for group in groups:
            if group.sweep is not None:
                for row in group.rows:
                    row.label = f"{group.title}/{row.label}"
    return groups


def _sweep_group(sweep: Sweep) -> Group:
    recorded = recorded_base_values(sweep.path)
    group = Group(sweep.path.name, [], sweep, recorded if recorded is not None else sweep.base_values())
    for name, variants in sweep.groups().items():
        runs = []
        for variant in variants:
            run_dir = sweep.run_dir(variant)
            if (run_dir / "config.yaml").exists():
                runs.append(read_run(run_dir))
            else:
                group.missing.append(variant.name)
        if runs:
            group.rows.append(Row(name, runs, dict(variants[0].values)))
    return group


def _disambiguate(rows: list[Row]) -> None:
    names = [r.label for r in rows]
    for row in rows:
        if names.count(row.label) > 1:
            row.label = f"{row.runs[0].path.parent.name}/{row.label}"
