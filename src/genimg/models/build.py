"""Build a family's model from its config and the data it will see."""

from __future__ import annotations

from typing import Any

from genimg.config.families import get_family
from genimg.data.spec import DataSpec
from genimg.models.base import GenerativeModel


def build_model(family: str, config: Any, spec: DataSpec) -> GenerativeModel:
    return get_family(family).model_class()(config, spec)
