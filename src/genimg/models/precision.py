"""Mixed precision: which one a run uses, and the autocast region it runs its networks in.

``train.precision`` is ``fp32``, ``bf16``, ``fp16`` (CUDA only, with a gradient scaler) or
``auto``. Parameters, optimiser state, likelihood bounds and every metric stay float32/64:
autocast only runs the networks' matrix products and convolutions in the lower precision.

``auto`` picks, on CUDA, bf16 where the GPU has it and fp16 otherwise; on Apple's MPS, fp32;
on a CPU, bf16 only when the CPU computes it natively (AVX512-BF16 or AMX, as PyTorch's
``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported`` report), the images are
at least ``BF16_MIN_IMAGE_SIZE`` pixels a side, and torch runs one intra-op thread. Measured
on a 2-core AVX512-BF16 machine: one training step at 28x28 runs 1.3-1.5x faster under bf16
(VAE, DCGAN, diffusion U-Net), while at 8x8 the casts cost what the products gain (0.9-1.1x);
and with two threads, oneDNN's bf16 convolution kernels wait at barriers for a thread that
another process has descheduled, so on a busy machine a step ran 3-100x slower than in fp32
(with the machine to itself, two bf16 threads were fine). One thread is also the most
work per CPU-second. See BENCHMARKS.md.

Float64, the other end: likelihood bounds and every metric are summed and compared in float64
(a FID is a small difference of large sums). Apple's MPS has no float64 at all: a float64
tensor cannot be created there, nor a tensor converted to it. Tensors on MPS are therefore moved
to the CPU before they are widened (``as_float64``); on CUDA and the CPU they stay where they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from genimg.config.run_config import PRECISIONS
from genimg.errors import UserError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
BF16_MIN_IMAGE_SIZE = 16
CHANNELS_LAST_MIN_IMAGE_SIZE = 16


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively, as far as torch can say. The probes are private
    torch functions: a torch without them reads as "no", and ``auto`` falls back to fp32."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(probe()) for probe in probes if callable(probe))


def resolve_precision(
    name: str, device: torch.device, image_size: int, native_bf16: bool | None = None, threads: int | None = None
) -> str:
    """The precision ``name`` stands for on ``device`` for images of ``image_size`` pixels a side."""
    if name not in PRECISIONS:
        raise UserError(f"train.precision must be one of {', '.join(PRECISIONS)}, got '{name}'")
    kind = torch.device(device).type
    if name == "fp16" and kind != "cuda":
        raise UserError("train.precision=fp16 needs a CUDA device (it trains with a gradient scaler); use bf16 or fp32")
    if name != "auto":
        return name
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if kind == "cpu":
        native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
        threads = torch.get_num_threads() if threads is None else threads
        return "bf16" if native and image_size >= BF16_MIN_IMAGE_SIZE and threads == 1 else "fp32"
    return "fp32"


def in_float32(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` in float32, outside any autocast region. For a network's last layer when its
    outputs parametrise a likelihood or are regressed on fine targets: a discretised logistic on
    8-bit data needs its mean to a fraction of a 1/255 bin, finer than bfloat16's 8 bits hold
    (trained in bf16 without this, the 28x28 VAE's loss rose and stayed at 1770 nats, against
    890 in fp32). The cost is one small layer."""
    with torch.autocast(x.device.type, enabled=False):
        return layer(x.float())


def use_channels_last(model: torch.nn.Module, image_size: int) -> bool:
    """Whether to lay the model's tensors out channels-last (NHWC): oneDNN's convolutions prefer it.
    Measured at 28x28: 1.1-1.3x for the conv VAE and the DCGAN, a loss for the diffusion U-Net
    (GroupNorm and attention), nothing to gain at 8x8; the model says whether it is conv-only."""
    return bool(getattr(model, "prefers_channels_last", False)) and image_size >= CHANNELS_LAST_MIN_IMAGE_SIZE


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """Run the block's network operations in ``precision`` (a resolved one: fp32, bf16 or fp16)."""
    kind = torch.device(device).type
    if precision == "fp32":
        with torch.autocast(kind, enabled=False):
            yield
        return
    with torch.autocast(kind, dtype=DTYPES[precision]):
        yield


def float64_device(device: torch.device | str) -> torch.device:
    """The device that holds float64 values computed from tensors on ``device``."""
    device = torch.device(device)
    return torch.device("cpu") if device.type == "mps" else device


def as_float64(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as float64: where it is, or on the CPU if it is on MPS."""
    return tensor.to(float64_device(tensor.device), torch.float64)
