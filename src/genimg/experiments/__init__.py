"""Run records, sweeps and the HTML report."""
from genimg.experiments.records import RunDir

__all__ = ["RunDir"]
