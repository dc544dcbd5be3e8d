"""Lazy re-exports for package ``__init__`` modules: ``from styleverse.io import load_image`` works without
importing every module of the package (and torch) up front, and without import cycles between domains.

A package ``__init__`` lists its public names once, as real imports under ``if TYPE_CHECKING:`` (so mypy and
editors see their true types, and a name that no longer exists is a type error); at run time
:func:`lazy_exports` reads that list from the ``__init__``'s source and imports each module on first use."""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def typed_imports(source: str) -> dict[str, str]:
    """Public name -> module it comes from, for the ``from M import N`` lines under ``if TYPE_CHECKING:``."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                if not (isinstance(imp, ast.ImportFrom) and imp.module):
                    raise TypeError("only 'from MODULE import NAME' lines belong under TYPE_CHECKING")
                found |= {a.asname or a.name: imp.module for a in imp.names}
    return found


def lazy_exports(package: str, init_file: str) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, whose ``__init__`` is ``init_file``."""
    where = typed_imports(Path(init_file).read_text(encoding="utf-8"))

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return sorted(where), __getattr__, __dir__
