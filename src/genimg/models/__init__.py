"""Model families behind one protocol (see base.py)."""
from genimg.models.base import (
    Batch,
    DataSpec,
    Family,
    GenerativeModel,
    Stepper,
    build_model,
    families,
    get_family,
    register_family,
)

__all__ = [
    "Batch",
    "DataSpec",
    "Family",
    "GenerativeModel",
    "Stepper",
    "build_model",
    "families",
    "get_family",
    "register_family",
]
