"""The one prefetcher: loading jobs (decode an image, make a batch) run on threads ahead of their consumer,
in order, with bounded memory (Pillow and torch decode without the GIL). Style-bank inputs, classifier
training and inference and the feed-forward trainers use it; it is in ``io`` as ``styles`` may not import
``training``."""

from __future__ import annotations

import functools
import itertools
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


def prefetch(jobs: Iterable[Callable[[], T]], workers: int = 1, ahead: int = 1) -> Generator[T, None, None]:
    """The results of ``jobs``, in order, computed on ``workers`` threads (0: inline, one at a time).

    While the caller holds one result the next ``ahead`` jobs run or wait in the pool. Closing the generator
    cancels the jobs not started and waits for the running ones; a job's exception comes out at its place.
    """
    if workers <= 0:
        yield from (job() for job in jobs)
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


def batched(items: Iterator[T], size: int) -> Generator[list[T], None, None]:
    """Consecutive lists of ``size`` items (the last may be shorter); closing it closes ``items``."""
    try:
        while batch := list(itertools.islice(items, size)):
            yield batch
    finally:
        getattr(items, "close", lambda: None)()


class StepPrefetcher(Generic[T]):
    """A trainer's batches by step: ``self(step)`` is item ``step`` of :meth:`stream` begun at some step.

    Consecutive steps come from one running (prefetching) stream; any other step (the first, a resumed run)
    begins ``stream(step)``, so a step's batch must depend on the step alone. A subclass implements
    :meth:`make` (one job per step, one step ahead) or :meth:`stream`. :meth:`close` when done.
    """

    _running: Generator[T, None, None] | None = None
    _next = -1

    def make(self, step: int) -> T:
        """The batch of ``step``, made now."""
        raise NotImplementedError

    def stream(self, start: int) -> Generator[T, None, None]:
        """The items of steps ``start``, ``start + 1``, ...: :meth:`make` on a thread, one step ahead."""
        return prefetch((functools.partial(self.make, s) for s in itertools.count(start)), workers=1, ahead=1)

    def __call__(self, step: int) -> T:
        if self._running is None or step != self._next:
            self.close()
            self._running = self.stream(step)
        self._next = step + 1
        return next(self._running)

    def close(self) -> None:
        """Stop the running stream (the jobs not started are cancelled)."""
        if self._running is not None:
            self._running.close()
            self._running = None
