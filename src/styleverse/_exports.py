"""Lazy re-exports for package ``__init__`` modules: ``from styleverse.io import load_image`` works without
importing every module of the package (and torch) up front, and without import cycles between domains."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps each public name to its module."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__


def by_module(table: Mapping[str, str]) -> dict[str, str]:
    """``{"images": "load_image save_image", ...}`` -> ``{"load_image": "images", "save_image": "images"}``."""
    return {name: module for module, names in table.items() for name in names.split()}
