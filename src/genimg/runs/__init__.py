"""Run directories, the unit of record: layout, checkpoints, and models loaded back from them."""

from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model, resume_config

__all__ = ["RunDir", "load_model", "resume_config"]
