"""The controls the job tabs (Stylise, Video, Universes) share, made and wired the same way in each: style
pickers, sliders capped by the server's limits, Run and Cancel, the progress and status lines.

A Run click first *arms* a stop ticket for the session and tab, outside the queue (so it happens at once),
then puts the job in the queue shared by every job (``concurrency_id="jobs"``, ``AppConfig.concurrency`` at
a time; Gradio shows the waiting their place). The job claims its ticket when it starts and releases it
when it ends; Cancel sets every open ticket of the session and tab (see :mod:`styleverse.app.jobs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr

from styleverse.app.context import AppContext
from styleverse.app.jobs import Ticket
from styleverse.app.views import progress_html, status_html


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
            fn, list(inputs), list(outputs), preprocess=False, concurrency_id="jobs",
            concurrency_limit=ctx.config.concurrency,
        )  # fmt: skip
    cancel.click(stop, None, status, queue=False)


def streamed(
    ctx: AppContext,
    tab: str,
    request: gr.Request,
    job: Callable[[Ticket], Iterator[Any]],
    show: Callable[[Any, bool], tuple[Any, ...]],
) -> Iterator[tuple[Any, ...]]:
    """A job's updates as its tab's outputs, ``show(update, first)``, under the ticket Run armed (released when
    the job's generator ends or is closed)."""
    session = request.session_hash or ""
    ticket = ctx.tickets.claim(session, tab)
    ctx.sweep()  # before a job writes: what expired goes
    try:
        for i, update in enumerate(job(ticket)):
            yield show(update, i == 0)
    finally:
        ctx.tickets.release(session, tab, ticket)


def shown(value: Any, reset: bool = False, cleared: Any = None) -> Any:
    """An output's new value: ``value``; without one, ``cleared`` on a run's first update (``reset``), else
    the element left as it is."""
    if value is not None:
        return value
    return cleared if reset else gr.skip()


def download(path: str | None, reset: bool = False) -> Any:
    """A download button's update: shown with ``path``; hidden on a run's first update (``reset``); else left."""
    if path is not None:
        return gr.update(value=path, visible=True)
    return gr.update(value=None, visible=False) if reset else gr.skip()


def capped_slider(low: float, high: float, default: float, step: float, label: str, elem_id: str) -> gr.Slider:
    """A slider up to a server limit ``high``, starting at ``default`` (or at the limit, if that is lower)."""
    return gr.Slider(low, high, value=min(default, high), step=step, label=label, elem_id=elem_id)


def style_pickers(ctx: AppContext, prefix: str, info: str | None = None) -> tuple[gr.Dropdown, gr.File]:
    """The universes (style banks in the server's --banks folder) and the style images a job uses."""
    universes = ctx.offer(gr.Dropdown(
        ctx.bank_names(), multiselect=True, label="Universes (style banks)", info=info, elem_id=f"{prefix}-universes"
    ), ctx.bank_names)  # fmt: skip
    images = gr.File(
        label="Style images", file_count="multiple", file_types=["image"], height=130, elem_id=f"{prefix}-styles"
    )
    return universes, images


def run_and_cancel(label: str, prefix: str) -> tuple[gr.Button, gr.Button]:
    """A row with the tab's Run button (``label``) and its Cancel button (wire both with :func:`job_buttons`)."""
    with gr.Row():
        go = gr.Button(label, variant="primary", elem_id=f"{prefix}-run")
        stop = gr.Button("Cancel", variant="stop", elem_id=f"{prefix}-cancel")
    return go, stop


def progress_and_status(prefix: str, hint: str) -> tuple[gr.HTML, gr.HTML]:
    """The job's progress bar (idle) and its status line, which first says what to do (``hint``)."""
    progress = gr.HTML(progress_html(0, 1, "idle"), elem_id=f"{prefix}-progress")
    status = gr.HTML(status_html(hint), elem_id=f"{prefix}-status")
    return progress, status


def refresh_pickers(ctx: AppContext) -> list[Any]:
    """Every registered dropdown's choices read again (a model trained or a bank built since the page was
    made appears; one that went away disappears), keeping what is picked where it is still there. A picker
    whose function gives an update (a dict, e.g. the gallery of universes' new cards) gets that update."""
    return [got if isinstance(got := fn(), dict) else gr.update(choices=got) for _, fn in ctx.pickers]


def release_on_close(ctx: AppContext, demo: gr.Blocks) -> None:
    """When a page goes away, its job folders may expire (:class:`styleverse.app.disk.Holds`)."""

    def closed(request: gr.Request) -> None:
        ctx.holds.release(request.session_hash or "")

    demo.unload(closed)
