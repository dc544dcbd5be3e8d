"""The one prefetcher: loading jobs (decode an image, make a batch) run on a few threads ahead of the code
that consumes their results, in order and with bounded memory.

Pillow and torch release the GIL while they decode and resize, so threads overlap loading with the
network's work without the cost of processes. Every loader of the package goes through here: style-bank
inputs, classifier training and inference, the batches of the feed-forward trainers. It lives in ``io``
(a leaf) because ``styles`` may not import ``training``.

:func:`prefetch` serves a sequence of jobs; :class:`StepPrefetcher` serves a trainer that asks for the
batch of step ``n`` (a pure function of ``n``): asked for steps in order it reads ahead, asked for any
other step (the first one, a resumed run) it starts afresh from there.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


def prefetch(jobs: Iterable[Callable[[], T]], workers: int = 1, ahead: int = 1) -> Generator[T, None, None]:
    """The results of ``jobs``, in order, computed on ``workers`` threads (0: inline, one at a time).

    While the caller holds one result, the next ``ahead`` jobs run or wait in the pool, so at most
    ``ahead + 1`` results exist at once. Closing the generator (or leaving a ``for`` over it) cancels the
    jobs not yet started and waits for the running ones; a job's exception comes out at its place.
    """
    if workers <= 0:
        for job in jobs:
            yield job()
        return
    it = iter(jobs)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="styleverse-load")
    try:
        pending: deque[Future[T]] = deque(pool.submit(job) for job in itertools.islice(it, max(1, ahead)))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(job) for job in itertools.islice(it, 1))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class StepPrefetcher(Generic[T]):
    """``self(step)``: item ``step`` of ``stream(start)``, the stream that begins at step ``start``.

    Consecutive steps come from one running stream (which prefetches); any other step closes it and opens
    ``stream(step)``. Because a step's batch depends on the step alone, both give the same batches, so a
    resumed run needs nothing but its step number. Call :meth:`close` when done.
    """

    def __init__(self, stream: Callable[[int], Generator[T, None, None]]) -> None:
        self._stream = stream
        self._running: Generator[T, None, None] | None = None
        self._next = -1

    def __call__(self, step: int) -> T:
        if self._running is None or step != self._next:
            self.close()
            self._running = self._stream(step)
        self._next = step + 1
        return next(self._running)

    def close(self) -> None:
        """Stop the running stream (its pool's unstarted jobs are cancelled)."""
        if self._running is not None:
            self._running.close()
            self._running = None


def batched(items: Iterator[T], size: int) -> Generator[list[T], None, None]:
    """Consecutive lists of ``size`` items (the last may be shorter); closing it closes ``items`` if it can."""
    try:
        while batch := list(itertools.islice(items, size)):
            yield batch
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
