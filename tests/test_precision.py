"""Mixed precision: what ``auto`` picks, that likelihood-bearing outputs stay float32 under
autocast, and that a bf16 run resumes bit-exactly."""

import pytest
import torch

import genimg.models.precision as precision
from conftest import quick_overrides
from genimg.config.run_config import apply_overrides, default_config
from genimg.errors import UserError
from genimg.models.precision import autocast, in_float32, resolve_precision
from genimg.runs.checkpoint import load_state
from genimg.train.trainer import train

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "native, size, threads, expected",
    [
        (False, 28, 1, "fp32"),
        (True, 28, 1, "bf16"),
        (True, 8, 1, "fp32"),
        (False, 8, 1, "fp32"),
        (True, 28, 2, "fp32"),  # oneDNN's bf16 kernels stall when a second thread is descheduled
    ],
)
def test_auto_on_cpu_picks_bf16_only_with_native_support_large_images_and_one_thread(native, size, threads, expected):
    assert resolve_precision("auto", CPU, size, native_bf16=native, threads=threads) == expected


def test_auto_reads_the_cpu_capability(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert resolve_precision("auto", CPU, 28, threads=1) == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert resolve_precision("auto", CPU, 28, threads=1) == "bf16"


def test_a_torch_without_the_private_cpu_probes_falls_back_to_fp32(monkeypatch):
    """``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported`` are private: a torch
    that drops or renames them must cost bf16's speed, not a crash."""
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert precision.cpu_has_native_bf16() is False
    assert resolve_precision("auto", CPU, 28, threads=1) == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)  # one of them is enough
    assert resolve_precision("auto", CPU, 28, threads=1) == "bf16"


def test_auto_on_cuda_prefers_bf16_then_fp16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", torch.device("cuda"), 8) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto", torch.device("cuda"), 8) == "fp16"


def test_explicit_choices_and_refusals():
    assert resolve_precision("fp32", CPU, 28, native_bf16=True) == "fp32"
    assert resolve_precision("bf16", CPU, 8, native_bf16=False) == "bf16"  # asked for: allowed, if slow
    with pytest.raises(UserError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU, 28)
    with pytest.raises(UserError, match="train.precision must be one of"):
        apply_overrides(default_config("vae"), {"precision": "fp8"})


def test_outputs_that_parametrise_a_likelihood_stay_float32_under_autocast():
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8)
    with autocast("bf16", CPU):
        assert layer(x).dtype == torch.bfloat16
        assert in_float32(layer, layer.weight.new_ones(3, 8).bfloat16()).dtype == torch.float32
    reference = layer(torch.ones(3, 8))
    with autocast("bf16", CPU):
        torch.testing.assert_close(in_float32(layer, torch.ones(3, 8)), reference, rtol=0, atol=0)


def test_a_bf16_run_resumes_bit_exactly(tmp_path):
    extra = ["precision=bf16", "arch=conv", "conv_channels=4", "latent_dim=2", "data.limit=120", "batch_size=40"]

    def config(name, epochs):
        return apply_overrides(default_config("vae"), quick_overrides(tmp_path, name, epochs=epochs) + extra)

    full = train(config("full", 4), quiet=True)
    assert full.summary["precision"] == "bf16"
    train(config("half", 2), quiet=True)
    resumed = train(config("half", 4), resume=tmp_path / "half", quiet=True)
    for which in ("model.safetensors",):
        a = full.run.checkpoint("last") / which
        b = resumed.run.checkpoint("last") / which
        assert a.read_bytes() == b.read_bytes()
    untimed = lambda run: [{k: v for k, v in r.items() if k not in ("time_s", "cpu_s")} for r in run.metrics()]  # noqa: E731
    assert untimed(full.run) == untimed(resumed.run)
    state = load_state(resumed.run.checkpoint("last") / "state.pt")
    assert state["scalers"] == {}  # no gradient scaler outside fp16


def test_precision_is_reported_and_resolved_for_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    result = train(apply_overrides(default_config("vae"), quick_overrides(tmp_path, "auto8", epochs=1)), quiet=True)
    assert result.summary["precision"] == "fp32"  # 8x8: bf16 would not pay
