"""Where float64 arithmetic on a device's tensors happens: on that device, or on the CPU for MPS.

Likelihood bounds and every metric are summed and compared in float64 (a FID is a small
difference of large sums). Apple's MPS has no float64 at all: a float64 tensor cannot be created
there, nor a tensor converted to it. Tensors on MPS are therefore moved to the CPU before they
are widened; on CUDA and the CPU they stay where they are.
"""

from __future__ import annotations

import torch


def float64_device(device: torch.device | str) -> torch.device:
    """The device that holds float64 values computed from tensors on ``device``."""
    device = torch.device(device)
    return torch.device("cpu") if device.type == "mps" else device


def as_float64(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as float64: where it is, or on the CPU if it is on MPS."""
    return tensor.to(float64_device(tensor.device), torch.float64)
