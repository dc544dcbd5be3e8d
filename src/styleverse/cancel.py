"""The one way to stop a long job early: a ``stop()`` callable the job asks between its steps.

Every long job (stylise, bank building and analysis, video, training, evaluate and sweep) takes
``stop: Stop`` and asks it between steps; when it turns true the job saves what it needs to continue
(``--resume``) and ends with its "interrupted" outcome. Who sets it: the CLI's signal handlers
(:func:`stop_on_signals`: Ctrl-C, SIGTERM, SIGHUP) and the web app's Cancel button. A :class:`StopFlag`
records why it was set, because the two differ in what a stopped stylise keeps: ``interrupted`` (a signal:
keep the resume state, write nothing final) or ``stopped`` (a front end: write the image reached so far).

A job that cannot return an outcome from where it stops (a bank build, an analysis, a sweep) raises
:class:`Stopped`; like ``asyncio.CancelledError`` it is not an ``Exception``, so no ``except Exception``
on the way mistakes it for a failure.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

Stop = Callable[[], bool]
Reason = Literal["interrupted", "stopped"]


def never() -> bool:
    """The default ``stop``: a job nobody can stop early."""
    return False


class Stopped(BaseException):
    """A job ended early because its ``stop()`` turned true, after saving what it can continue from (the
    message says what and where)."""


class StopFlag:
    """A thread-safe ``stop()`` that anyone may set once: :meth:`set` from a signal handler or another
    thread, ``flag()`` from the job. The first :meth:`set` decides :attr:`reason`."""

    def __init__(self) -> None:
        self._reasons: list[Reason] = []  # appending is atomic, and takes no lock a signal handler could block on

    def __call__(self) -> bool:
        return bool(self._reasons)

    def set(self, reason: Reason = "stopped") -> None:
        """Ask the job to stop at its next check; ``interrupted`` (a signal) or ``stopped`` (a front end)."""
        self._reasons.append(reason)

    @property
    def reason(self) -> Reason | None:
        """Why the flag was set, or None while it is not."""
        return self._reasons[0] if self._reasons else None


def reason(stop: Stop) -> Reason:
    """Why ``stop()`` turned true: a :class:`StopFlag`'s own reason; ``stopped`` for any other callable."""
    return (stop.reason if isinstance(stop, StopFlag) else None) or "stopped"


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def stop_on_signals(flag: StopFlag, notify: Callable[[str], None] | None = None) -> Iterator[StopFlag]:
    """Within the block Ctrl-C (SIGINT), SIGTERM and SIGHUP set ``flag`` (reason ``interrupted``) instead of
    killing the process, so the job saves its state and ends as it does for Ctrl-C; ``notify(signal name)``
    is told of the first. A second Ctrl-C raises ``KeyboardInterrupt`` at once, so a user is never stuck
    behind a long step. Only the main thread can catch signals: elsewhere (the web app) the handlers stay."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        first = not flag()
        flag.set("interrupted")
        if first and notify is not None:
            with contextlib.suppress(Exception):  # a closed terminal (SIGHUP) must not break the job
                notify(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
