"""Typed dataclass fields from loose values: what turns ``lr=3e-4`` or a YAML mapping into a config.

Values are parsed as YAML and then checked against the field's annotation, so ``lr=3e-4``,
``betas=[0.5,0.999]`` and ``patience=null`` all work, and ``epochs=ten`` fails with a message
naming the field's type. A string choice is a ``Literal[...]`` annotation, and a value outside it
(``sampler=ddmp``) fails here, as the config is built, with a message listing the choices.
Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any

import yaml

from genimg.errors import UserError


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert ``value`` to ``annotation`` (int, float, bool, str, Literal, Optional, list[...], tuple[...])."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        for choice in args:  # the type too: YAML reads `yes` as True, which is no choice "yes" (nor 1)
            if type(value) is type(choice) and value == choice:
                return choice
        raise UserError(f"{key} must be one of {', '.join(str(c) for c in args)}, got '{value}'")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin in (list, tuple):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{key} must be a list, e.g. {key}=[1,2], got {value!r}")
        inner = args[0] if args else Any
        items = [coerce(v, inner, key) for v in value]
        return items if origin is list else tuple(items)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UserError(f"{key} must be true or false, got {value!r}")
    if annotation in (int, float) and isinstance(value, str):
        try:  # YAML 1.1 reads 3e-4 as a string
            value = float(value)
        except ValueError:
            pass
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise UserError(f"{key} must be an integer, got {value!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{key} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise UserError(f"{key} must be a string, got {value!r}")
        return str(value)
    raise UserError(f"{key}: unsupported field type {annotation}")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build_dataclass(cls: type, values: dict[str, Any], section: str) -> Any:
    """Build ``cls`` from a dict, checking names and types; unknown keys are errors.

    A field may accept older names for its choices: ``field(metadata={"aliases": {"eps": "epsilon"}})``.
    """
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise UserError(f"unknown key '{section}.{unknown[0]}'; valid keys in {section}: {', '.join(names)}")
    aliases = {f.name: f.metadata.get("aliases", {}) for f in fields(cls)}
    kwargs = {
        k: coerce(aliases[k].get(v, v) if isinstance(v, str) else v, hints[k], f"{section}.{k}")
        for k, v in values.items()
    }
    return cls(**kwargs)


def parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
