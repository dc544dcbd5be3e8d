"""Lazy re-exports for package ``__init__`` modules: ``from styleverse.io import load_image`` works without
importing every module of the package (and torch) up front, and without import cycles between domains.

Each ``__init__`` imports its public names for real under ``if TYPE_CHECKING:`` (so mypy and editors see
their true types, and a name that no longer exists is a type error) and hands the same names, by module, to
:func:`lazy_exports` at run time; ``tests/test_layout.py`` checks that the two lists agree."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``; ``table`` maps each module (relative to
    the package) to its public names, space-separated: ``{"images": "load_image save_image", ...}``."""
    where = {name: module for module, names in table.items() for name in names.split()}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return sorted(where), __getattr__, __dir__
