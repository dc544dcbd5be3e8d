"""The web app (``styleverse app``): every job from the browser, built with Gradio Blocks.

It sits on top of the library and calls its job functions (``run_stylize``, ``run_video``, ``run_analyze``,
``run_bank``, ``discover``, the real-time stylizers) in worker threads, never the CLI. ``config`` holds its settings and
limits, ``files`` the outputs folder (one folder per job, uploads checked and confined), ``jobs`` the glue
between a blocking job with a callback and a page that streams progress, and one module per tab.
Nothing in the library imports this package.
"""

from typing import TYPE_CHECKING

from styleverse._exports import lazy_exports

if TYPE_CHECKING:
    from styleverse.app.config import AppConfig, Limits
    from styleverse.app.context import AppContext
    from styleverse.app.server import build_app, serve
else:
    __all__, __getattr__, __dir__ = lazy_exports(__name__, __file__)
