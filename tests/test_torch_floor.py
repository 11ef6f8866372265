"""pyproject's torch floor is at least what the code needs: the newest torch API genimg (or a
benchmark) calls sets it. A user with an older torch gets a pip resolution error at install
time, not an AttributeError halfway through training.

``FIRST_VERSION`` lists the public APIs newer than torch 2.0 that the code calls (and a few
older ones, as a record); an API used only through ``getattr`` with a fallback (the private
``torch.cpu._is_*`` probes of ``models/precision.py``) needs no floor and is not listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# API (as written in the code) -> the first torch release that has it
FIRST_VERSION = {
    "torch.nn.utils.get_total_norm": (2, 6),  # models/stepper.py: the guard's gradient norm without clipping
    "torch.amp.GradScaler": (2, 3),  # models/stepper.py: device-generic scaler (torch.cuda.amp's before)
    "scaled_dot_product_attention": (2, 0),  # models/diffusion/unet.py
    "torch.compile": (2, 0),  # models/diffusion/model.py: sampling_net
    "weights_only=True": (1, 13),  # torch.load of checkpoint state
}


def torch_floor() -> tuple[int, ...]:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^\s*"torch>=([0-9.]+)"', text, re.MULTILINE)
    assert match, "pyproject.toml's dependencies have no torch>=X.Y"
    return tuple(int(part) for part in match.group(1).split("."))


def code_text() -> str:
    files = [*(ROOT / "src" / "genimg").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    return "\n".join(path.read_text() for path in files)


def test_the_torch_floor_covers_every_api_the_code_calls():
    code = code_text()
    used = {api: version for api, version in FIRST_VERSION.items() if api in code}
    assert "torch.nn.utils.get_total_norm" in used, "the table is checked against code that no longer calls it"
    needed = max(used.values())
    floor = torch_floor()
    newest = [api for api, version in used.items() if version == needed]
    assert floor >= needed, (
        f"pyproject.toml says torch>={'.'.join(map(str, floor))}, but the code calls {', '.join(newest)} "
        f"(torch {'.'.join(map(str, needed))})"
    )


def test_the_installed_torch_meets_the_floor():
    installed = tuple(int(part) for part in re.findall(r"\d+", torch.__version__)[:2])
    assert installed >= torch_floor()[:2]


@pytest.mark.parametrize("api", ["torch.nn.utils.get_total_norm", "torch.amp.GradScaler", "torch.compile"])
def test_the_listed_apis_exist(api):
    """The table names real attributes (a typo in it would make its check vacuous)."""
    target = torch
    for name in api.split(".")[1:]:
        target = getattr(target, name)
