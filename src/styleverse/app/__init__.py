"""The web app (``styleverse app``): every job from the browser, built with Gradio Blocks.

It sits on top of the library and calls its job functions (``run_stylize``, ``run_video``, ``run_analyze``,
``run_bank``, the real-time stylizers) in worker threads, never the CLI. ``config`` holds its settings and
limits, ``files`` the outputs folder (one folder per job, uploads checked and confined), ``jobs`` the glue
between a blocking job with a callback and a page that streams progress, and one module per tab.
Nothing in the library imports this package.
"""

from styleverse._exports import by_module, lazy_exports

_WHERE = by_module({"config": "AppConfig Limits", "context": "AppContext", "server": "build_app serve"})
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
