"""Exclusive output locks: a second holder is refused naming the first; a dead holder's lock is taken over."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from styleverse.errors import LockedError, OutputError
from styleverse.io import lock as lockmod
from styleverse.io.lock import FOLDER_LOCK, Holder, lock_file_for, output_lock, read_holder

HOLD = """
import sys, time
from styleverse.io.lock import output_lock
with output_lock(sys.argv[1], command="holder-process"):
    print("held", flush=True)
    time.sleep(60)
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_file_places(tmp_path: Path) -> None:
    assert lock_file_for(tmp_path / "ds", folder=True) == tmp_path / "ds" / FOLDER_LOCK
    assert lock_file_for(tmp_path / "bank.safetensors", folder=False) == tmp_path / ".bank.safetensors.lock"


def test_holder_recorded_second_holder_refused_file_removed(tmp_path: Path) -> None:
    target = tmp_path / "out" / "bank.safetensors"
    with output_lock(target, command="styleverse styles bank a -o bank.safetensors") as lock:
        holder = read_holder(lock)
        assert holder is not None and holder.pid == os.getpid() and holder.command.startswith("styleverse styles")
        with pytest.raises(LockedError) as err, output_lock(target):
            pass
        msg = str(err.value)
        assert f"pid {os.getpid()}" in msg and "styleverse styles bank" in msg and str(lock) in msg
        assert "\n" not in msg and err.value.exit_code == 2 and isinstance(err.value, OutputError)
    assert not lock.exists()
    with output_lock(target):  # free again
        pass


def test_lock_released_when_the_body_fails(tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    with pytest.raises(RuntimeError), output_lock(tmp_path / "ds", folder=True):
        raise RuntimeError("boom")
    assert not (tmp_path / "ds" / FOLDER_LOCK).exists()
    with output_lock(tmp_path / "ds", folder=True):
        pass


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "image.png"
    stale = Holder(_dead_pid(), os.uname().nodename, time.time() - 60, "styleverse stylize killed")
    lock_file_for(target, False).write_text(json.dumps(stale.__dict__))
    with caplog.at_level(logging.WARNING, logger="styleverse"), output_lock(target) as lock:
        holder = read_holder(lock)
        assert holder is not None and holder.pid == os.getpid()
    assert f"stale lock of pid {stale.pid}" in caplog.text and "stylize killed" in caplog.text


def test_other_process_holds_then_is_killed(tmp_path: Path) -> None:
    """A real second process: refused while it runs; after SIGKILL (no clean-up at all) the lock is free."""
    target = tmp_path / "ds"
    target.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    hold = HOLD.replace("output_lock(sys.argv[1],", "output_lock(sys.argv[1], folder=True,")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(target)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        refused = pytest.raises(LockedError, match=rf"pid {proc.pid} on .*'holder-process'")
        with refused, output_lock(target, folder=True):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (target / FOLDER_LOCK).exists()  # left behind by the kill ...
    with output_lock(target, folder=True) as lock:  # ... and taken over
        assert read_holder(lock).pid == os.getpid()  # type: ignore[union-attr]


def test_lock_where_nothing_can_be_written_is_one_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def read_only(path: str, flags: int, *a: int) -> int:
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(lockmod.os, "open", read_only)
    (tmp_path / "ds").mkdir()
    refused = pytest.raises(OutputError, match=r"ds: cannot create a lock file there \(Read-only file system\)")
    with refused, output_lock(tmp_path / "ds", folder=True):
        pass
    monkeypatch.undo()
    with pytest.raises(OutputError, match="no such folder"), output_lock(tmp_path / "missing", folder=True):
        pass  # a folder lock needs its folder


def test_fallback_without_flock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockmod, "fcntl", None)
    target = tmp_path / "x.png"
    with output_lock(target), pytest.raises(LockedError, match=f"pid {os.getpid()}"), output_lock(target):
        pass
    stale = Holder(_dead_pid(), os.uname().nodename, time.time(), "gone")
    lock_file_for(target, False).write_text(json.dumps(stale.__dict__))
    with output_lock(target) as lock:
        assert read_holder(lock).pid == os.getpid()  # type: ignore[union-attr]
