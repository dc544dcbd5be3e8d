"""Progress for long commands: a rich bar on a terminal, plain timed lines anywhere else (a log file, nohup, CI).

Both offer the small part of :class:`rich.progress.Progress` the commands use (``add_task``, ``update``,
``console``, a context manager), so a command does not care where its output goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column

LOG_INTERVAL_S = 10.0  # seconds between plain progress lines


class ProgressLike(Protocol):
    """What the commands use of a progress display (a rich bar or plain lines); task ids are opaque."""

    @property
    def console(self) -> Console: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...
    def add_task(self, description: str, *args: Any, **kwargs: Any) -> Any: ...
    def update(self, task: Any, *args: Any, **kwargs: Any) -> None: ...
    def remove_task(self, task: Any) -> None: ...


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    status: str = ""
    visible: bool = True
    start: float = field(default_factory=lambda: time.monotonic())
    last_line: float = float("-inf")
    base: float | None = None  # the count at the first update: work a resumed run did before this process
    base_time: float = 0.0


class LogProgress:
    """Plain progress lines every ``interval`` seconds and when a task finishes: description, done/total,
    percent, elapsed, ETA and the status text. For output that is not a terminal. The ETA is the rate since
    the task's first update (a resumed run's first update is where it resumed, not work done now), as rich's
    bar, which leaves the first sample out of its speed, does."""

    def __init__(self, console: Console, interval: float = LOG_INTERVAL_S, disable: bool = False):
        self.console, self.interval, self.disable = console, interval, disable
        self._tasks: list[_Task] = []

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for i, t in enumerate(self._tasks):
            if t.visible and t.completed and not (t.total is not None and t.completed >= t.total):
                self._line(i, time.monotonic())

    def add_task(self, description: str, total: float | None = 100.0, completed: float = 0, status: str = "",
                 visible: bool = True, **_: Any) -> int:  # fmt: skip
        self._tasks.append(_Task(description, total, float(completed), status, visible))
        return len(self._tasks) - 1

    def update(self, task: int, *, total: float | None = None, completed: float | None = None,
               advance: float | None = None, status: str | None = None, visible: bool | None = None,
               **_: Any) -> None:  # fmt: skip
        t = self._tasks[task]
        t.total = total if total is not None else t.total
        t.completed = completed if completed is not None else t.completed + (advance or 0)
        t.status = status if status is not None else t.status
        t.visible = visible if visible is not None else t.visible
        now = time.monotonic()
        if t.base is None:  # the ETA counts only what this process does (a --resume starts part-way)
            t.base, t.base_time = t.completed, now
        finished = t.total is not None and t.completed >= t.total
        if t.visible and (finished or now - t.last_line >= self.interval):
            self._line(task, now)

    def remove_task(self, task: int) -> None:
        """Stop reporting ``task`` (a finished sub-task, e.g. one video of many)."""
        self._tasks[task].visible = False

    def _line(self, task: int, now: float) -> None:
        t = self._tasks[task]
        t.last_line = now
        if self.disable:
            return
        elapsed = now - t.start
        if t.total:
            pct = 100.0 * t.completed / t.total
            ran = t.completed - (t.base or 0.0)
            eta = (now - t.base_time) / ran * (t.total - t.completed) if ran > 0 else None
            done = f"{t.completed:g}/{t.total:g} ({pct:.0f}%)"
        else:
            eta, done = None, f"{t.completed:g}"
        text = f"{t.description}: {done} elapsed {_clock(elapsed)} ETA {_clock(eta)} {t.status}".rstrip()
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)


def progress(console: Console, disable: bool = False) -> ProgressLike:
    """A rich bar (description, bar, n/total, elapsed, ETA, status) on a terminal; timed lines elsewhere.

    The status column takes what room is left and is cut with an ellipsis, so the counts and times stay
    whole on an 80-column terminal."""
    if not console.is_terminal:
        return LogProgress(console, disable=disable)
    bar = Progress(
        TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
        BarColumn(bar_width=20),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
        TimeRemainingColumn(table_column=Column(no_wrap=True, min_width=7)),
        TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=32)),
        console=console,
        disable=disable,
        transient=False,
    )
    return cast(ProgressLike, bar)  # rich's update takes a TaskID; ours takes what add_task returned
