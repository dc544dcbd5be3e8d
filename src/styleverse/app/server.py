"""The app's page (Gradio Blocks with one tab per job) and the server that serves it.

:func:`build_app` assembles the tabs around one :class:`~styleverse.app.context.AppContext`; :func:`serve`
starts it: on 127.0.0.1 unless told otherwise, with no public link unless ``share``, Gradio's uploads and
served copies kept inside the outputs folder (whose location the page never learns:
:class:`~styleverse.app.pathmask.PathMask`), uploads over the size limit refused by the server, and every
job event in one queue whose concurrency limit is ``AppConfig.concurrency`` (``concurrency_id="jobs"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from styleverse.app.config import AppConfig
from styleverse.app.context import AppContext
from styleverse.app.disk import UploadGuard
from styleverse.app.jobs import configure_threads
from styleverse.app.pathmask import PathMask
from styleverse.app.views import CSS

if TYPE_CHECKING:
    import gradio as gr

INTRO = "Turn photos and video into the look of an animated universe."


def _gradio_env(ctx: AppContext) -> None:
    """Point Gradio's upload/serving cache into the outputs folder and keep it from calling home. Must run
    before any Gradio element is made (each reads the cache folder when it is created)."""
    os.environ["GRADIO_TEMP_DIR"] = str(ctx.workspace.uploads)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


def build_app(ctx: AppContext) -> gr.Blocks:
    """The page: a header and the Stylise, Real time, Video and Universes tabs."""
    _gradio_env(ctx)
    import gradio as gr

    from styleverse.app import realtime, stylise_page, universes, video
    from styleverse.app.controls import refresh_pickers, release_on_close

    cfg = ctx.config
    jobs = "1 job" if cfg.concurrency == 1 else f"{cfg.concurrency} jobs"
    where = f"feature network `{Path(cfg.backbone).name}`, {jobs} at a time, the rest queued"
    with gr.Blocks(title="styleverse", analytics_enabled=False) as demo:
        gr.Markdown(f"## styleverse\n{INTRO} <small>({where})</small>", elem_id="header")
        with gr.Tabs():
            with gr.Tab("Stylise", id="stylise", elem_id="tab-stylise"):
                stylise_page.build(ctx)
            with gr.Tab("Real time", id="realtime", elem_id="tab-realtime"):
                realtime.build(ctx, demo)
            with gr.Tab("Video", id="video", elem_id="tab-video"):
                video.build(ctx)
            with gr.Tab("Universes", id="universes", elem_id="tab-universes"):
                banks_made = universes.build(ctx)
        pickers = [d for d, _ in ctx.pickers]
        demo.load(lambda: refresh_pickers(ctx), None, pickers, queue=False)  # lists as they are now
        banks_made.change(lambda: refresh_pickers(ctx), None, pickers, queue=False)  # a bank built joins them
        release_on_close(ctx, demo)
    demo.queue(max_size=cfg.queue_size, default_concurrency_limit=cfg.concurrency)
    return demo


def serve(config: AppConfig, block: bool = True) -> gr.Blocks:
    """Start the server (blocking unless ``block`` is False) and return the running Blocks."""
    ctx = AppContext.create(config)
    configure_threads(config.threads_per_job())
    demo = build_app(ctx)
    from starlette.middleware import Middleware

    guard = Middleware(UploadGuard, limits=config.limits, make_room=ctx.sweep)
    mask = Middleware(PathMask, root=ctx.workspace.root)
    demo.launch(
        app_kwargs={"middleware": [guard, mask]},
        server_name=config.host, server_port=config.port, share=config.share, css=CSS, prevent_thread_lock=not block,
        max_file_size=config.limits.largest_upload_bytes, show_error=False, quiet=False,
        allowed_paths=[str(ctx.workspace.root)],  # the outputs folder and nothing else
    )  # fmt: skip
    return demo
