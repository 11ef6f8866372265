"""Serving the studio with uvicorn: in the foreground (``genimg studio``), or in a thread (tests,
benchmarks, notebooks) through ``StudioServer``.

The socket is bound here, before uvicorn starts, so a busy port is a one-line error and
``port=0`` gets a free port whose number is known. A loopback bind needs no token and
answers loopback Host headers only; any other bind makes a random access token that every
request must carry (``guard.py``), printed with the URL.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from genimg.errors import UserError
from genimg.studio.app import create_app
from genimg.studio.guard import LOOPBACK_HOSTS, is_loopback, new_token
from genimg.studio.judge_round import Exposure, ExposureOption, JudgeRound
from genimg.studio.workspace import Studio

DEFAULT_PORT = 8765
log = logging.getLogger("genimg.studio")


@dataclass
class StudioOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    seed: int = 0  # draws the judge's trials
    trials: int = 50  # trials in a judge's round
    time_limit_s: float | None = None  # per judge trial; None: no limit
    exposure_ms: ExposureOption = None  # how long a pair is shown: None (until answered), ms, or "staircase"
    ema: bool = True
    token: str | None = field(default=None, repr=False)  # None: a new one when the bind needs it

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port must lie in 0..65535 (0: any free port), got {self.port}")
        if self.trials < 1:
            raise UserError(f"--trials must be at least 1, got {self.trials}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise UserError(f"--time-limit must be a positive number of seconds, got {self.time_limit_s}")
        Exposure.from_option(self.exposure_ms)


class StudioServer:
    """The studio over ``paths``, bound and ready to serve; ``url`` is what to open."""

    def __init__(self, paths: list[str | Path], options: StudioOptions | None = None) -> None:
        self.options = options or StudioOptions()
        self.options.check()
        studio = Studio.open(paths, ema=self.options.ema)
        self.studio = studio
        local = is_loopback(self.options.host)
        self.token = None if local else (self.options.token or new_token())
        allowed = tuple(dict.fromkeys((*LOOPBACK_HOSTS, self.options.host.lower()))) if local else None
        self.judge_round = JudgeRound(
            list(studio.runs.values()),
            self.options.seed,
            self.options.trials,
            self.options.time_limit_s,
            Exposure.from_option(self.options.exposure_ms),
        )
        self.app = create_app(studio, self.judge_round, token=self.token, allowed_hosts=allowed)
        self.socket = _bind(self.options.host, self.options.port)
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.page_url("/")

    def page_url(self, path: str) -> str:
        """The URL of one of the pages (``/judge``, ``/results``), with the token where one is needed."""
        host = self.options.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
        return f"http://{shown}:{self.port}{path}" + (f"?token={self.token}" if self.token else "")

    def serve_forever(self, freeze_heap: bool = False) -> None:
        """Serve in this thread until Ctrl-C (uvicorn handles the signal and shuts down cleanly).
        The judging round's images are drawn meanwhile, so the first judge finds them ready;
        ``freeze_heap`` then moves everything loaded so far out of the garbage collector's sight."""
        threading.Thread(
            target=self._prepare_round, args=(freeze_heap,), name="genimg-judge-round", daemon=True
        ).start()
        self.server.run(sockets=[self.socket])

    def _prepare_round(self, freeze_heap: bool) -> None:
        try:
            self.judge_round.prepare(self.studio.compute)
        except Exception:  # logged; the first judge to arrive tries again and gets a one-line error
            log.exception("studio: drawing the judging round failed")
        if freeze_heap:
            gc.freeze()

    def start(self, timeout: float = 30.0) -> StudioServer:
        """Serve in a background thread; return once it accepts requests."""
        self._thread = threading.Thread(target=self.serve_forever, name="genimg-studio", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the studio server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> StudioServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _print(line: str) -> None:
    print(line, flush=True)  # the URL and token must reach a pipe (a script, a test) before serving starts


def serve(paths: list[str | Path], options: StudioOptions, log: Callable[[str], None] = _print) -> None:
    """``genimg studio``: load the runs, print the URL (and the token), serve until Ctrl-C."""
    server = StudioServer(paths, options)
    names = ", ".join(server.studio.runs)
    log(f"genimg studio: {len(server.studio.runs)} run(s): {names}")
    if server.token:
        log(f"  bound to {options.host}:{server.port}; every request must carry the access token")
        log(f"  access token: {server.token}")
        log(f"  open {server.url} (replace 127.0.0.1 with this machine's address on other machines)")
    else:
        log(f"  open {server.url}")
    log(f"  the judging round's live results: {server.page_url('/results')}")
    log("  Ctrl-C stops the server; every acknowledged answer is already on disk")
    # The models, data and libraries loaded are some 300,000 objects that live as long as the
    # server: a full collection of them stalls every request for about half a second (a class's
    # clicks, all at once). Collected once now and frozen, later collections see only new objects.
    gc.collect()
    gc.freeze()
    server.serve_forever(freeze_heap=True)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it Nagle's algorithm and delayed ACKs add about 40 ms to every small reply.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port} ({e.strerror}); pass another --port (0 picks a free one)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
