"""The background model of Ren et al. 2019's likelihood ratio, trained once per run and kept.

It is the run's family and config trained on the training images with a fraction ``mu`` of
pixels replaced by grey levels drawn uniformly (the ``perturbed:`` dataset). It absorbs what
makes an image cheap to describe in general (smoothness, flat regions), so the ratio against
it keeps what is specific to the data. It is trained on first use and kept as a run directory
in RUN/outliers/background/mu<mu>-seed<seed>/; an interrupted training resumes.
"""

from __future__ import annotations

from pathlib import Path

from genimg.config.run_config import RunConfig, apply_overrides
from genimg.data.perturbed import perturbed_dataset_name
from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.train.trainer import train

# Settings that change how a training runs, not what it learns: a cached background model
# trained with other values is still the one asked for.
RUN_ONLY_SETTINGS = {("train", "progress"), ("train", "threads"), ("train", "device")}


def background_dir(run_path: str | Path, mu: float, seed: int) -> Path:
    return Path(run_path) / "outliers" / "background" / f"mu{mu:g}-seed{seed}"


def background_config(
    config: RunConfig, path: Path, mu: float, seed: int, overrides: list[str] | None = None
) -> RunConfig:
    """The run's config with perturbed training data, written to ``path``. It is selected by val
    loss on perturbed data (FID against perturbed images would mean little) and skips the
    end-of-training likelihood (outlier scoring computes what it needs)."""
    base = {
        "data.dataset": perturbed_dataset_name(config.data.dataset, mu, seed),
        "train.out": str(path.parent),
        "train.run_name": path.name,
        "train.seed": config.train.seed + 1,  # a different initialisation from the model it is compared with
        "train.select_by": "val_loss",
        "train.fid_every": 0,
        "train.likelihood_at_end": False,
    }
    return apply_overrides(apply_overrides(config, base), list(overrides or []))


def background_model(
    run_path: str | Path, mu: float, seed: int, overrides: list[str] | None = None, *, progress: bool = True, log=print
) -> GenerativeModel:
    """The background model for the likelihood ratio: loaded from its cached run directory, or
    trained now (resumed if a previous training was interrupted)."""
    run = RunDir.open(run_path)
    path = background_dir(run.path, mu, seed)
    config = background_config(run.config(), path, mu, seed, overrides)
    cached = RunDir(path)
    if cached.config_file.exists():
        _check_same_config(cached.config(), config, path)
        if cached.is_finished():
            return load_model(path)
    resume = path if (path / "checkpoints" / "last").exists() else None
    config = apply_overrides(config, {"train.progress": progress and config.train.progress})
    log(f"{'resuming' if resume else 'training'} the background model for the likelihood ratio -> {path}")
    return train(config, resume=resume, run_dir=path, quiet=True).model


def _check_same_config(saved: RunConfig, wanted: RunConfig, path: Path) -> None:
    """Refuse a cached background model trained with other settings than those asked for."""
    a, b = saved.to_dict(), wanted.to_dict()
    for section in ("data", "train", "model"):
        for key in b[section]:
            if (section, key) not in RUN_ONLY_SETTINGS and a[section].get(key) != b[section][key]:
                raise UserError(
                    f"the cached background model {path} was trained with {section}.{key}={a[section].get(key)!r}, "
                    f"not {b[section][key]!r}; delete that directory to train a new one, or drop the override"
                )
