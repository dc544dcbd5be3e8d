"""The glue between a blocking library job that reports through a callback and a page that streams progress.

A job runs in a worker thread of its own; :func:`follow` hands its events to the page's generator in
batches (whatever arrived since the page last drew, so a slow browser never falls behind a fast job) and
ends with a :class:`Finished` holding the result or one line of error. Gradio's queue decides how many jobs
run at once (``AppConfig.concurrency``, one per four CPUs by default); the rest wait and the page shows their place.

Cancelling: each Run click *arms* a :class:`Ticket` for its session and tab before the job enters the queue,
and Cancel sets the stop flag of every ticket of that session and tab, so it reaches a job that is running
(every library job takes ``stop=ticket.stop`` and asks it between its steps, as it does for Ctrl-C) and one
still waiting (it starts, sees the flag, and ends before any work). A page that goes away closes the
generator, which cancels its job the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from styleverse.app.files import no_paths
from styleverse.cancel import StopFlag, Stopped
from styleverse.errors import StyleverseError

log = logging.getLogger("styleverse")
Emit = Callable[[Any], None]


@dataclass
class Ticket:
    """One job's stop flag (set by Cancel or by the page going away): the job's ``stop``."""

    stop: StopFlag = field(default_factory=StopFlag)
    claimed: bool = False
    session: str = ""  # the page's session (its job folders are kept while it is open)

    def cancel(self) -> None:
        """Ask the job to stop (it does at its next step); reason ``stopped``, a front end's."""
        self.stop.set("stopped")

    def stopped(self) -> bool:
        """True once the job should stop."""
        return self.stop()


class Tickets:
    """The tickets of every (session, tab): armed by Run, claimed by the job when it starts, released when
    it ends. Thread-safe: Gradio calls these from its worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], list[Ticket]] = {}

    def arm(self, session: str, tab: str) -> Ticket:
        """A new ticket for a job about to be queued (called without queueing, at the click)."""
        t = Ticket(session=session)
        with self._lock:
            self._open.setdefault((session, tab), []).append(t)
        return t

    def claim(self, session: str, tab: str) -> Ticket:
        """The oldest armed ticket no job has taken yet, or a new one (a call that skipped :meth:`arm`)."""
        with self._lock:
            tickets = self._open.setdefault((session, tab), [])
            for t in tickets:
                if not t.claimed:
                    t.claimed = True
                    return t
            t = Ticket(claimed=True, session=session)
            tickets.append(t)
            return t

    def cancel(self, session: str, tab: str) -> int:
        """Stop every job of this session and tab, running or queued; returns how many there were."""
        with self._lock:
            tickets = list(self._open.get((session, tab), []))
        for t in tickets:
            t.cancel()
        return len(tickets)

    def release(self, session: str, tab: str, ticket: Ticket) -> None:
        """Forget a finished job's ticket."""
        with self._lock:
            tickets = self._open.get((session, tab), [])
            if ticket in tickets:
                tickets.remove(ticket)
            if not tickets:
                self._open.pop((session, tab), None)


@dataclass(frozen=True)
class Finished:
    """How a job ended: its ``result``, or ``error`` (one line for the page), or ``cancelled`` (it raised
    :class:`~styleverse.cancel.Stopped`, or never started). A job that ends stopped with a result of its
    own (a stylise keeps the image it reached, a video its finished frames) returns it as ``result``."""

    result: Any = None
    error: str | None = None
    cancelled: bool = False


def error_line(e: BaseException, labels: Mapping[str, str] | None = None) -> str:
    """One line for the page: a user error's own message, the settings it names called by their controls'
    ``labels`` (setting -> label, a tab's own); anything else named as unexpected (and logged with its
    traceback on the server, where a bug report can find it)."""
    if isinstance(e, StyleverseError):
        text = e.worded(lambda s: f"“{labels[s]}”" if labels and s in labels else None).strip()
        return no_paths(text.splitlines()[0]) if text else type(e).__name__
    log.error("unexpected error in an app job", exc_info=e)
    first = (str(e).strip().splitlines() or [""])[0][:200]
    return no_paths(f"unexpected error ({type(e).__name__}: {first}); the server log has the details")


def follow(
    work: Callable[[Emit], Any], ticket: Ticket, poll: float = 0.25, labels: Mapping[str, str] | None = None
) -> Iterator[list[Any] | Finished]:
    """Run ``work(emit)`` in a worker thread; yield each batch of events it emits, then one :class:`Finished`.

    ``work`` stops through ``ticket.stop`` (pass it to the library job). Closing this generator early (the
    page went away, Gradio cancelled the event) cancels the ticket. ``labels``: see :func:`error_line`.
    """
    q: queue.Queue[Any] = queue.Queue()

    def target() -> None:
        use_job_threads()
        try:
            if ticket.stopped():
                q.put(Finished(cancelled=True))
                return
            q.put(Finished(result=work(q.put)))
        except Stopped:
            q.put(Finished(cancelled=True))
        except BaseException as e:
            q.put(Finished(error=error_line(e, labels)))
        finally:
            release_memory()

    worker = threading.Thread(target=target, name="styleverse-app-job", daemon=True)
    worker.start()
    try:
        while True:
            try:
                items = [q.get(timeout=poll)]
            except queue.Empty:
                continue
            while True:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            done = next((i for i in items if isinstance(i, Finished)), None)
            events = [i for i in items if not isinstance(i, Finished)]
            if events:
                yield events
            if done is not None:
                yield done
                return
    finally:
        ticket.cancel()  # a no-op for a finished job; stops one whose page went away


def release_memory() -> None:
    """After a job: collect its cycles and hand freed heap pages back to the system (glibc's
    ``malloc_trim``; each job's worker thread allocates from an arena of its own, which otherwise keeps what
    a job freed, so an idle server would hold the peak of every job it ever ran)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


_THREADS = [torch.get_num_threads()]  # torch threads of each job's worker (configure_threads)


def configure_threads(threads: int) -> None:
    """torch threads per job: jobs that run at once share the CPUs instead of each taking all of them (set
    here and again in each thread that runs a job's work: :func:`use_job_threads`)."""
    _THREADS[0] = max(1, threads)
    torch.set_num_threads(_THREADS[0])


def use_job_threads() -> None:
    """The calling thread's torch threads set to a job's share (OpenMP builds keep the setting per thread, so
    a worker thread that never set it would spread over every CPU however many jobs run)."""
    if torch.get_num_threads() != _THREADS[0]:
        torch.set_num_threads(_THREADS[0])
