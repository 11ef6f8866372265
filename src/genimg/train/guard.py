"""The divergence guard: a non-finite loss or gradient norm stops the run at that step.

Every optimiser update records its loss and global gradient norm on the device
(``Stepper(watch=True)``); after each training step the guard reduces them all to one flag and
reads it with a single host sync (one ``.item()`` a step, where the loop used to convert every
logged scalar every step). A non-finite value raises ``Diverged``: one line naming the step, the
epoch, the optimiser and which of its numbers went bad, and the usual remedies. The trainer then
marks the run ``diverged`` in summary.json and writes nothing else, so the last good checkpoint
is left as it was; the CLI exits with code 2.

``train.skip_nonfinite=N`` skips up to N such steps instead (the Stepper then decides each update
itself, with one sync per update, and makes no update from a bad one; useful for GANs): each
epoch's record in metrics.jsonl counts them (``nonfinite_skipped``), and the (N+1)-th stops the
run as above. Under torchrun every rank takes the same decision.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from genimg.errors import UserError
from genimg.models.stepper import Stepper
from genimg.train.distributed import DistInfo


class Diverged(UserError):
    """Training produced a non-finite loss or gradient norm; the message says where and what to try."""


class DivergenceGuard:
    def __init__(self, skip_limit: int, precision: str, info: DistInfo) -> None:
        self.skip_limit = skip_limit
        self.precision = precision
        self.info = info

    def after_step(self, stepper: Stepper, outputs: dict, step: int, epoch: int, skipped_so_far: int) -> bool:
        """Check one training step; True if it was skipped (its scalars are then left out of the
        epoch's means). Raises ``Diverged`` when the run must stop."""
        if self.skip_limit:
            if not stepper.skipped:
                return False
            if skipped_so_far + 1 > self.skip_limit:
                raise Diverged(self._message(stepper, outputs, step, epoch, skipped_so_far))
            return True
        if not stepper.checks:
            return False
        values = [v.float().reshape(()) for _, loss, norm in stepper.checks for v in (loss, norm) if v is not None]
        bad = (~torch.isfinite(torch.stack(values))).any().to(torch.int32)
        if self.info.enabled:  # a loss that went bad on one rank stops them all at the same step
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bad.item():  # the one host sync of the step
            raise Diverged(self._message(stepper, outputs, step, epoch, skipped_so_far))
        return False

    def _message(self, stepper: Stepper, outputs: dict, step: int, epoch: int, skipped: int) -> str:
        what = []
        for name, loss, norm in stepper.checks:
            checked = (("loss", loss), ("gradient norm", norm))
            bad = [f"{label} {float(v)}" for label, v in checked if v is not None and _nonfinite(v)]
            if bad:
                what.append(f"optimiser '{name}': {', '.join(bad)}")
        if not what:
            what = [f"non-finite {', '.join(k for k, v in outputs.items() if _nonfinite(v)) or 'values'}"]
        after = f" after skipping {skipped} such steps (train.skip_nonfinite={self.skip_limit})" if skipped else ""
        fp32 = "fp32 (train.precision=fp32)" + (f" instead of {self.precision}" if self.precision != "fp32" else "")
        return (
            f"training diverged at step {step} (epoch {epoch}){after}: {'; '.join(what)}; try a lower learning rate, "
            f"gradient clipping (train.grad_clip=1.0) or {fp32}, or skip a few such steps (train.skip_nonfinite=N)"
        )


def _nonfinite(value) -> bool:
    if value is None:
        return False
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError, RuntimeError):  # a non-scalar output is not the guard's business
        return False
