"""The one prefetcher: results in order, bounded read-ahead, errors at their place, cancelled when closed, and
by-step access that restarts where a trainer resumes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator

import pytest

from styleverse.io.prefetch import StepPrefetcher, batched, prefetch


def recorder(n: int, started: list[int]) -> list[Callable[[], int]]:
    """Jobs 0..n-1 that note when they start and return their number squared."""
    lock = threading.Lock()

    def job(i: int) -> int:
        with lock:
            started.append(i)
        return i * i

    return [lambda i=i: job(i) for i in range(n)]


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_results_in_order_and_read_ahead_bounded(workers: int) -> None:
    started: list[int] = []
    got = []
    for r in prefetch(recorder(20, started), workers, ahead=4):
        got.append(r)
        assert len(started) - len(got) <= (4 if workers else 0)
    assert got == [i * i for i in range(20)]


def test_a_failing_job_raises_at_its_place() -> None:
    def boom() -> int:
        raise ValueError("bad image")

    out = prefetch([lambda: 1, boom, lambda: 3], workers=2, ahead=2)
    assert next(out) == 1
    with pytest.raises(ValueError, match="bad image"):
        next(out)


def test_closing_cancels_jobs_not_started() -> None:
    started: list[int] = []
    running, gate = threading.Event(), threading.Event()

    def job(i: int) -> int:
        started.append(i)
        if i:
            running.set()
            gate.wait(10)  # job 1 is still running when the consumer stops
        return i

    gen = prefetch([lambda i=i: job(i) for i in range(100)], workers=1, ahead=10)
    assert next(gen) == 0
    assert running.wait(10)
    threading.Timer(0.2, gate.set).start()
    gen.close()  # cancels jobs 2..10, waits for job 1
    assert started == [0, 1]


def test_batched_groups_and_closes_its_source() -> None:
    closed: list[bool] = []

    def source() -> Generator[int, None, None]:
        try:
            yield from range(7)
        finally:
            closed.append(True)

    assert list(batched(source(), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    groups = batched(source(), 2)
    next(groups)
    groups.close()
    assert closed == [True, True]


class Tens(StepPrefetcher[int]):
    """Step ``s`` is ``10 * s``; records where each stream began."""

    def __init__(self) -> None:
        self.opened: list[int] = []

    def stream(self, start: int) -> Generator[int, None, None]:
        self.opened.append(start)
        return prefetch([lambda s=s: 10 * s for s in range(start, 1000)], workers=1, ahead=1)


def test_step_prefetcher_follows_steps_and_restarts_on_a_jump() -> None:
    steps = Tens()
    assert [steps(s) for s in (0, 1, 2)] == [0, 10, 20]
    assert steps(7) == 70 and steps(8) == 80  # a resumed run asks for another step: a new stream from there
    assert steps(3) == 30
    assert steps.opened == [0, 7, 3]
    steps.close()
