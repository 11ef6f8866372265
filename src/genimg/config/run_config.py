"""Typed configs: dataclasses, serialised to YAML, overridden from the command line with key=value.

A run's config has four parts: the model family, ``data``, ``train`` and ``model`` (the
family's own dataclass). An override names a field by its dotted path (``model.latent_dim=2``)
or by its bare name when that is unambiguous (``latent_dim=2``). Values are parsed as YAML
and then checked against the field's type, so ``lr=3e-4``, ``betas=[0.5,0.999]`` and
``patience=null`` all work, and ``epochs=ten`` fails with a message naming the field's type.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from genimg.config.families import get_family
from genimg.config.fields import build_dataclass, parse_value
from genimg.config.presets import DEFAULT_PRESET, preset_for
from genimg.errors import UserError

# The string choices: each Literal is the one source, its tuple of names is read from it.
Dequantize = Literal["none", "uniform"]
SelectBy = Literal["val_loss", "fid", "last"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]  # what genimg/models/precision.py resolves (no torch here)
LoggerName = Literal["none", "tensorboard"]  # train/loggers.py
DEQUANTIZE: tuple[Dequantize, ...] = get_args(Dequantize)
SELECT_BY: tuple[SelectBy, ...] = get_args(SelectBy)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
LOGGERS: tuple[LoggerName, ...] = get_args(LoggerName)


@dataclass
class DataConfig:
    dataset: str = "digits"  # a registered dataset, or folder:PATH / npz:PATH
    root: str | None = None  # local directory with the standard files (no download)
    image_size: int | None = None  # resize to this square size
    binarize: float | None = None  # static binarisation threshold, e.g. 0.5
    classes: list[int] | None = None  # keep only these labels (e.g. train on 0-8)
    limit: int | None = None  # keep the first N images of each split
    # none, or uniform: a continuous density sees x + U(0, 1) per grey level (see models)
    dequantize: Dequantize = "none"
    # A training split larger than this as float32 stays in its memory-mapped uint8 cache
    # (folder:PATH) and is streamed through a DataLoader (train/loader.py); null: a quarter of
    # the machine's memory (and of the GPU's on CUDA), shared between a sweep's parallel runs.
    max_memory_gb: float | None = None
    loader_workers: int | None = None  # that DataLoader's worker processes; null: half the cores, at most 4

    def __post_init__(self) -> None:
        if self.dequantize not in DEQUANTIZE:
            raise UserError(f"data.dequantize must be one of {', '.join(DEQUANTIZE)}, got '{self.dequantize}'")
        if self.max_memory_gb is not None and not self.max_memory_gb > 0:
            raise UserError(f"data.max_memory_gb must be positive (or null for the default), got {self.max_memory_gb}")
        if self.loader_workers is not None and self.loader_workers < 0:
            raise UserError(
                f"data.loader_workers must be 0 (load in the training process) or more, got {self.loader_workers}"
            )


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 100
    seed: int = 0
    device: str = "auto"  # auto (cuda, else mps, else cpu), cpu, mps, cuda, cuda:1
    # auto, fp32, bf16, fp16 (CUDA): autocast in training and sampling (models/precision.py)
    precision: Precision = "auto"
    threads: int | None = None  # torch intra-op threads; None = torch's default
    grad_clip: float | None = None  # clip the global gradient norm to this value
    # A non-finite loss or gradient norm stops the run as diverged (train/guard.py); with N > 0 up
    # to N such steps are skipped instead (no update; counted in metrics.jsonl), then it stops.
    skip_nonfinite: int = 0
    patience: int | None = 20  # early stopping: epochs without a better selection score
    select_by: SelectBy = "val_loss"  # val_loss, fid (needs fid_every), or last: which checkpoint is kept
    ema_decay: float | None = None  # keep an EMA of the weights; sampling uses it
    # Instead of a fixed decay, EDM2's power-function EMA (train/ema.py): the average spans this
    # relative width of the run so far, whatever its length (e.g. 0.1); ema_decay is then unused.
    ema_sigma_rel: float | None = None
    eval_every: int = 1  # validation/test loss every K epochs
    checkpoint_every_s: float = 30.0  # write the resumable checkpoint at most this often (and at the end)
    sample_every: int = 10  # sample grid every K epochs (0: never)
    fid_every: int = 0  # FID in dataset-classifier features every K epochs (0: never)
    fid_samples: int = 447  # samples for that FID (the digits test split has 447)
    likelihood_at_end: bool = True  # test log-likelihood bounds in summary.json, for families that have them
    likelihood_k: int = 1000  # importance samples for the VAE's bound
    out: str = "runs"  # parent directory of run directories
    run_name: str | None = None  # run directory name; default family-dataset-time
    progress: bool = True  # progress bars
    logger: LoggerName = "none"  # none, or tensorboard: mirror metrics and sample grids there (train/loggers.py)
    # A compute budget instead of a number of epochs: "5m", "90s", "1.5h" of the training
    # process's CPU time (every thread counted), or "wall:10m" of wall time. The loop (training
    # steps and the evaluations during training) stops at the epoch boundary nearest the budget,
    # and `epochs` is then not used; summary.json records the epochs reached, and `epochs=N
    # budget=null` replays the run bit-exactly. null: train for `epochs`.
    budget: str | None = None

    def __post_init__(self) -> None:
        if self.budget is not None:
            parse_budget(self.budget)  # a malformed duration is refused before any work
        if self.logger not in LOGGERS:
            raise UserError(f"train.logger must be one of {', '.join(LOGGERS)}, got '{self.logger}'")
        if self.precision not in PRECISIONS:
            raise UserError(f"train.precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.select_by not in SELECT_BY:
            raise UserError(f"train.select_by must be one of {', '.join(SELECT_BY)}, got '{self.select_by}'")
        if self.ema_sigma_rel is not None and not 0 < self.ema_sigma_rel < 12**-0.5:
            raise UserError(f"train.ema_sigma_rel must lie in (0, 0.288), e.g. 0.1, got {self.ema_sigma_rel}")
        if self.skip_nonfinite < 0:
            raise UserError(f"train.skip_nonfinite must be 0 (stop at the first) or more, got {self.skip_nonfinite}")
        if self.epochs < 1 or self.batch_size < 1:
            raise UserError("train.epochs and train.batch_size must be at least 1")
        if self.eval_every < 1:  # the last epoch is always evaluated; K only sets the cadence before it
            raise UserError(f"train.eval_every must be at least 1 (epochs between val losses), got {self.eval_every}")
        if self.sample_every < 0 or self.fid_every < 0:
            raise UserError("train.sample_every and train.fid_every must be 0 (never) or a number of epochs")


@dataclass(frozen=True)
class Budget:
    """A compute budget: ``seconds`` of the training process's CPU time, or of wall time."""

    seconds: float
    clock: Literal["cpu", "wall"]  # cpu: time.process_time (every thread counted); wall: time.perf_counter

    def describe(self) -> str:
        """'5 CPU-minutes', '90 wall-seconds': how reports and logs name it."""
        kind = "CPU" if self.clock == "cpu" else "wall"
        if self.seconds >= 3600 and self.seconds % 360 == 0:
            return f"{self.seconds / 3600:g} {kind}-hours"
        if self.seconds >= 60 and self.seconds % 6 == 0:
            return f"{self.seconds / 60:g} {kind}-minutes"
        return f"{self.seconds:g} {kind}-seconds"


_BUDGET = re.compile(r"^(?:(cpu|wall):)?\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h)$")
_UNIT_SECONDS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_budget(text: str) -> Budget:
    """``5m`` -> 300 CPU-seconds; ``wall:90s`` -> 90 wall-seconds; anything else is a UserError."""
    match = _BUDGET.match(str(text).strip().lower())
    if match is None or float(match.group(2)) <= 0:
        raise UserError(
            f"train.budget must be a positive duration such as 5m, 90s or 1.5h (CPU time of the training "
            f"process), or wall:10m for wall time; got '{text}'"
        )
    clock, amount, unit = match.groups()
    return Budget(seconds=float(amount) * _UNIT_SECONDS[unit], clock="wall" if clock == "wall" else "cpu")


@dataclass
class RunConfig:
    family: str
    model: Any  # the family's config dataclass
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = DEFAULT_PRESET  # the per-dataset preset the config started from (config/presets.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "preset": self.preset,
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
            "model": dataclasses.asdict(self.model),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def sections(self) -> dict[str, Any]:
        return {"model": self.model, "train": self.train, "data": self.data}

    def valid_keys(self) -> list[str]:
        return [f"{s}.{f.name}" for s, obj in self.sections().items() for f in fields(obj)]


def resolve_key(config: RunConfig, key: str) -> tuple[str, str]:
    """Map ``lr`` or ``model.lr`` to (section, field); raise with the valid keys if it is neither."""
    sections = config.sections()
    if "." in key:
        section, _, name = key.partition(".")
        if section in sections and name in {f.name for f in fields(sections[section])}:
            return section, name
    else:
        matches = [s for s, obj in sections.items() if key in {f.name for f in fields(obj)}]
        if len(matches) == 1:
            return matches[0], key
        if len(matches) > 1:
            raise UserError(f"key '{key}' is ambiguous; write one of {', '.join(f'{s}.{key}' for s in matches)}")
    raise UserError(f"unknown key '{key}' for {config.family}; valid keys: {', '.join(config.valid_keys())}")


def apply_overrides(config: RunConfig, overrides: dict[str, Any] | list[str]) -> RunConfig:
    """Return a new config with ``overrides`` applied (a dict, or ["key=value", ...] strings)."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    data = config.to_dict()
    for key, value in overrides.items():
        section, name = resolve_key(config, key)
        data[section][name] = value
    return config_from_dict(data)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"expected key=value, got '{item}' (for example latent_dim=2)")
        out[key.strip()] = parse_value(value)
    return out


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    if not isinstance(data, dict) or "family" not in data:
        raise UserError("a run config needs a 'family' entry (vae, dcgan or diffusion)")
    family = get_family(data["family"])
    return RunConfig(
        family=family.name,
        model=build_dataclass(family.config_cls, data.get("model") or {}, "model"),
        data=build_dataclass(DataConfig, data.get("data") or {}, "data"),
        train=build_dataclass(TrainConfig, {**family.train_defaults, **(data.get("train") or {})}, "train"),
        preset=str(data.get("preset", DEFAULT_PRESET)),
    )


def default_config(family_name: str, dataset: str | None = None) -> RunConfig:
    """The family's starting config for ``dataset`` (default: the bundled digits): its defaults
    with the dataset's preset on top."""
    dataset = dataset or DataConfig.dataset
    family = get_family(family_name)
    preset = preset_for(dataset)
    values = family.presets.get(preset)
    if values is None:  # the family keeps no such preset: its defaults are the starting point
        preset, values = DEFAULT_PRESET, {}
    return config_from_dict(
        {
            "family": family.name,
            "preset": preset,
            "data": {"dataset": dataset},
            "model": values.get("model", {}),
            "train": values.get("train", {}),
        }
    )


def config_for(family_name: str, overrides: dict[str, Any] | list[str]) -> RunConfig:
    """``default_config`` for the dataset the overrides name (``dataset=`` / ``data.dataset=``), with
    the overrides applied: what ``genimg train FAMILY key=value ...`` trains."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    dataset = overrides.get("data.dataset", overrides.get("dataset"))
    return apply_overrides(default_config(family_name, str(dataset) if dataset is not None else None), overrides)


def load_config(path: str | Path) -> RunConfig:
    """The config in a YAML file; any problem with the file is one UserError that names it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"config file {path} is unreadable ({e}); restore it, or write a new one") from None
    except yaml.YAMLError as e:
        raise UserError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    try:
        return config_from_dict(data)
    except UserError as e:
        raise UserError(f"config file {path}: {e}") from None
    except (TypeError, ValueError, AttributeError) as e:  # a shape the file should never have
        raise UserError(f"config file {path} is not a genimg config ({e}); restore it, or write a new one") from None


def check_choices(config: RunConfig) -> None:
    """Checks of a run config that need nothing but the config: training choices that can only fail
    at the end of a run (keeping a checkpoint by a score that is never measured) are refused at the
    start. The data-dependent checks are in ``genimg.train.trainer``."""
    family = get_family(config.family)
    train = config.train
    if train.select_by == "val_loss" and not family.has_validation_loss:
        raise UserError(
            f"train.select_by=val_loss needs a validation loss, which a {config.family} does not have; "
            "set train.select_by=fid with train.fid_every=K, or train.select_by=last"
        )
    if train.select_by == "fid" and not train.fid_every:
        raise UserError(
            "train.select_by=fid needs FID measured during training; set train.fid_every=K (epochs), "
            "or train.select_by=last"
        )
