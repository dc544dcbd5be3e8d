"""Run and Cancel for the job tabs (Stylise, Video, Universes), wired the same way in each.

A Run click first *arms* a stop ticket for the session and tab, outside the queue (so it happens at once),
then puts the job in the queue shared by every job (``concurrency_id="jobs"``, ``AppConfig.concurrency`` at
a time; Gradio shows the waiting their place). The job claims its ticket when it starts and releases it
when it ends; Cancel sets every open ticket of the session and tab (see :mod:`styleverse.app.jobs`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr

from styleverse.app.context import AppContext
from styleverse.app.jobs import Ticket
from styleverse.app.views import status_html


@contextlib.contextmanager
def ticketed(ctx: AppContext, tab: str, request: gr.Request) -> Iterator[Ticket]:
    """The ticket Run armed for this job, released when the job's generator ends or is closed."""
    session = request.session_hash or ""
    ticket = ctx.tickets.claim(session, tab)
    try:
        yield ticket
    finally:
        ctx.tickets.release(session, tab, ticket)


def job_buttons(
    ctx: AppContext,
    tab: str,
    runs: Sequence[tuple[gr.Button, Callable[..., Iterator[Any]]]],
    cancel: gr.Button,
    status: gr.HTML,
    inputs: Sequence[Any],
    outputs: Sequence[Any],
) -> None:
    """Wire each (button, job generator) in ``runs`` and the Cancel button of one tab."""

    def arm(request: gr.Request) -> None:
        ctx.tickets.arm(request.session_hash or "", tab)

    def stop(request: gr.Request) -> str:
        n = ctx.tickets.cancel(request.session_hash or "", tab)
        return status_html("Cancelling…" if n else "Nothing is running.")

    for button, fn in runs:
        button.click(arm, None, None, queue=False).then(
            fn,
            list(inputs),
            list(outputs),
            preprocess=False,
            concurrency_id="jobs",
            concurrency_limit=ctx.config.concurrency,
        )
    cancel.click(stop, None, status, queue=False)
