"""Exclusive locks on outputs, so two runs never write one dataset, run folder, bank or image at once.

Outputs are checked when a command starts and written as it goes or at its end; without a lock two runs
both pass the checks and one silently replaces the other's work (two harvests into one dataset lost every
row of one label). :func:`output_lock` holds a lock file for the whole job:

* for a folder output (a dataset, a run folder, a report folder) ``FOLDER/.styleverse.lock``;
* for a file output (a bank, an image) ``.NAME.lock`` beside it.

The file holds JSON naming its holder — pid, host, start time and command line — so a second run can say
who holds it. Exclusion comes from ``fcntl.flock`` on that file: the kernel drops the lock when its
holder dies however it dies (SIGKILL, power loss on a local disk), so a lock file left by a dead process
is stale by construction and the next run takes it over (and logs whose it was). Where ``fcntl`` does not
exist the file is created exclusively and a holder whose pid is gone on this host is taken over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from styleverse.errors import LockedError, OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("styleverse")
FOLDER_LOCK = ".styleverse.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: process id, host name, start time (seconds since the epoch) and command line."""

    pid: int
    host: str
    started: float
    command: str

    @classmethod
    def me(cls, command: str | None = None) -> Holder:
        cmd = command if command is not None else " ".join(sys.argv)
        return cls(os.getpid(), socket.gethostname(), time.time(), cmd[:300])

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} on {self.host} since {since}: {self.command!r}"

    def alive(self) -> bool:
        """False only when the holder is known to be gone: same host and no such process."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by someone else
            return True
        return True


def lock_file_for(target: str | os.PathLike[str], folder: bool) -> Path:
    """Where the lock of ``target`` lives: inside it for a folder, ``.NAME.lock`` beside it for a file."""
    t = Path(target)
    return t / FOLDER_LOCK if folder else t.parent / f".{t.name}.lock"


def read_holder(lock: str | os.PathLike[str]) -> Holder | None:
    """The holder recorded in a lock file; None when absent, empty (being written) or not ours."""
    try:
        data = json.loads(Path(lock).read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["host"]), float(data["started"]), str(data["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _locked(target: Path, lock: Path, holder: Holder | None) -> LockedError:
    who = holder.describe() if holder else "another process (details not written yet)"
    return LockedError(
        f"{target}: in use by another styleverse run ({who}); wait for it to finish, "
        f"or delete {lock} if that process is gone"
    )


def _unwritable(lock: Path, e: OSError) -> OutputError:
    from styleverse.io.images import os_error_cause

    return OutputError(f"{lock.parent}: cannot create a lock file there ({os_error_cause(e)})")


def _acquire_flock(target: Path, lock: Path) -> int:
    """Open and flock ``lock``; returns the descriptor. Retries when the file was replaced under us (a
    holder that released between our open and our flock unlinks the file we opened)."""
    assert fcntl is not None
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _locked(target, lock, read_holder(lock)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _acquire_exclusive(target: Path, lock: Path) -> int:
    """Without fcntl: create the file exclusively; take over a holder that is gone from this host."""
    for _ in range(3):
        try:
            return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = read_holder(lock)
            if holder is None or holder.alive():
                raise _locked(target, lock, holder) from None
            lock.unlink(missing_ok=True)
    raise _locked(target, lock, read_holder(lock))


@contextlib.contextmanager
def output_lock(target: str | os.PathLike[str], folder: bool = False, command: str | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of ``target`` for the body (see the module doc); yields the lock file, removed
    on exit. With ``folder`` the lock goes inside ``target``, which must exist; otherwise beside it (its folder
    created if missing), which also locks a run or report folder that may not exist yet without creating it
    before the command's checks. Under ``torchrun`` only rank 0 should lock (the others write nothing)."""
    t = Path(target)
    lock = lock_file_for(t, folder)
    try:
        if not folder:
            lock.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire_flock(t, lock) if fcntl is not None else _acquire_exclusive(t, lock)
    except LockedError:
        raise
    except OSError as e:
        raise _unwritable(lock, e) from None
    try:
        previous = read_holder(lock)
        if previous is not None and previous.pid != os.getpid():
            log.warning("%s: taking over a stale lock of %s (no longer running)", t, previous.describe())
        me = json.dumps(asdict(Holder.me(command))).encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, me)
    except OSError as e:
        os.close(fd)
        raise _unwritable(lock, e) from None
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)
