"""Each shipped model is reproducible. Its index entry records the command that trained it
(``genimg train FAMILY threads=1 device=cpu ...``) and the SHA-256 of the weights that the same
recipe, stopped after its first epochs (``prefix``), left in its last checkpoint when the model
was made. Here that prefix is trained again and must match bit for bit; the full recipe, minutes
per model, is retrained by ``benchmarks/reproduce_pretrained.py check`` against the shipped file.

Bit-exactness is a promise for one CPU instruction set and torch version (one thread, fp32):
elsewhere floating point may round differently, so on another machine the comparison is
skipped with both environments named (the recipe itself is still checked, in test_pretrained.py).
"""

from __future__ import annotations

import hashlib
import platform

import pytest
import torch

from genimg.config.run_config import config_for
from genimg.runs.pretrained import read_index
from genimg.train import train

MODELS = read_index()


def environment() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
    }


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_prefix_of_the_recipe_gives_the_recorded_weights_bit_for_bit(name, tmp_path):
    model = MODELS[name]
    made, here = model.entry["made_with"], environment()
    if any(made.get(key) != value for key, value in here.items()):
        pytest.skip(f"{name} was made with {made}; this is {here}: bit-exactness is not promised across them")
    prefix = model.entry["prefix"]
    overrides = [*model.entry["overrides"], *prefix["overrides"], f"out={tmp_path}", "run_name=prefix"]
    train(config_for(model.family, [*overrides, "progress=false"]), quiet=True)
    weights = tmp_path / "prefix" / "checkpoints" / "last" / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == prefix["sha256"], (
        f"`{model.command} {' '.join(prefix['overrides'])}` no longer reproduces {name}'s first "
        f"{prefix['epochs']} epochs: the recipe or the training code changed what it computes"
    )
