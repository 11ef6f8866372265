"""The sums behind an epoch's mean training scalars, kept on the device.

Adding a step's scalars is a few device ops, never a host sync; the epoch's means come back in
one transfer at its end. The arithmetic is what converting each scalar with ``float()`` and
summing in Python did (float64, value x batch size, in step order), so the numbers in
metrics.jsonl are the same to the last bit. (Not on Apple's MPS, which has no float64: there
the sums are float32, on the device, rather than a host sync at every step.)
"""

from __future__ import annotations

from typing import Any

import torch


class EpochSums:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.dtype = torch.float32 if torch.device(device).type == "mps" else torch.float64
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, outputs: dict[str, Any], batch_size: int) -> None:
        for key, value in outputs.items():
            # float64 from the start: a Python float stays exact, as float() kept it.
            term = torch.as_tensor(value, dtype=self.dtype).detach().to(self.device) * batch_size
            self.sums[key] = term if key not in self.sums else self.sums[key] + term
        self.count += batch_size

    def totals(self) -> dict[str, float]:
        """Every sum as a float (one host transfer), and ``_count``: the images they cover."""
        keys = list(self.sums)
        values = torch.stack([self.sums[k] for k in keys]).tolist() if keys else []
        return {**dict(zip(keys, values)), "_count": float(self.count)}
