"""One trainer per run directory: a live lock refuses a second trainer in one line naming the
owner; a lock whose process died (even by SIGKILL) is stale and taken over with a note."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import models_for_tests  # noqa: E402,F401
from conftest import quick_overrides  # noqa: E402
from genimg.errors import UserError  # noqa: E402
from genimg.runs.lock import LOCK_FILE, RunLock, holder  # noqa: E402
from genimg.train import apply_overrides, default_config, train  # noqa: E402

# Another process holding the lock the way RunLock does (flock on RUN/.lock, its pid inside).
HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"pid {os.getpid()} on test since now\\n".encode())
print("holding", flush=True)
time.sleep(120)
"""


def config(tmp_path, name="run", **extra):
    return apply_overrides(default_config("tiny-ae"), quick_overrides(tmp_path, name, epochs=1, **extra))


def test_a_second_trainer_is_refused_while_the_first_holds_the_lock(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(UserError, match=f"being trained by another process \\(pid {os.getpid()} "):
            train(config(tmp_path), quiet=True)
    assert not (tmp_path / "run" / "config.yaml").exists()  # refused before anything was written
    train(config(tmp_path), quiet=True)  # released: now it trains
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_note(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(run / LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "holding"
        assert holder(run) == f"pid {process.pid} on test since now"
        with pytest.raises(UserError, match=f"pid {process.pid}"):
            train(config(tmp_path), resume=run, quiet=True)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert holder(run) is None  # the kernel dropped the dead process's lock; its file remains
    assert (run / LOCK_FILE).exists()
    result = train(config(tmp_path), resume=run, quiet=True)  # no checkpoint yet: starts from the beginning
    assert result.run.is_finished()
    assert f"was left by a process that no longer runs (pid {process.pid}" in capsys.readouterr().err


def test_a_garbled_lock_file_is_stale_too(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_FILE).write_bytes(b"\x00\xff garbage \x1b[31m\n")
    train(config(tmp_path), quiet=True)
    assert "taking it over" in capsys.readouterr().err
