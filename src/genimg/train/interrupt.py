"""Ctrl-C (SIGINT) and SIGTERM during training: stop at the next clean point, not mid-write.

While the loop runs, the first signal only sets a flag; the loop looks at it before every
training step, so whatever was under way (a step, an evaluation, a checkpoint or a metrics line
being written) completes, and the run stops there with the last checkpoint intact. A second
Ctrl-C stops at once (a KeyboardInterrupt; every file is still written atomically). The run
ends with ``TrainingInterrupted``, a KeyboardInterrupt whose message says how to resume; the
CLI prints it and exits with code 130.

Only the main thread can take signals, and under torchrun the ranks would have to agree on the
step to stop at; in either case the default behaviour (an immediate KeyboardInterrupt) stays.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator


class TrainingInterrupted(KeyboardInterrupt):
    """The run was stopped by Ctrl-C or SIGTERM; the message says where and how to resume."""


class StopRequest:
    """Set by the first Ctrl-C or SIGTERM; the loop checks ``requested`` between steps."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""


@contextlib.contextmanager
def stop_at_clean_points(enabled: bool = True) -> Iterator[StopRequest]:
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signum, frame) -> None:
        if request.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        request.requested = True
        request.signal_name = signal.Signals(signum).name
        print(
            f"genimg: {request.signal_name} received; stopping after the current step (Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
