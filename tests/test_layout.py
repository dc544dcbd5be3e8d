"""The package layout: every subpackage re-exports its public names, lazily; the domains import one way; and no
import cycle exists between files, packages or domains.

The import graph is read from the source (every ``.py`` below ``src/styleverse``, subpackages included): an
import anywhere in a file counts, at module level, inside a function or under ``TYPE_CHECKING``, because each
of them is a dependency a reader must follow and a cycle among them is one a refactoring can turn into an
import error.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest

import styleverse
from styleverse._exports import typed_imports

SRC = Path(styleverse.__file__).parent
PACKAGES = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
# what each domain may import (besides itself): leaves import no domain; the root package `styleverse` (the
# public facade) imports domains, so none may import it; cli and app sit on top and nothing imports them
PURE = {"errors", "versions", "progress", "_exports", "samples", "cancel"}  # shared modules that import no other
LEAVES = PURE | {"devices", "distributed", "io", "nn"}
ENGINE = {"plots", "frames", "styles", "transfer", "classifier", "training", "fast", "video", "evaluation"}
ALLOWED: dict[str, set[str]] = {
    **{name: set() for name in PURE},
    "devices": {"errors"},
    "distributed": {"devices", "errors"},
    "io": {"errors", "devices", "_exports"},
    "nn": {"errors", "devices", "io", "_exports"},
    "plots": {"errors", "io"},
    "training": LEAVES | {"plots", "styles"},  # photos: files, folders and manifests as styles.inputs reads them
    "frames": LEAVES | {"plots"},
    "styles": LEAVES | {"plots", "frames"},
    "transfer": LEAVES | {"plots", "styles"},
    "classifier": LEAVES | {"plots", "frames", "training"},
    "fast": LEAVES | {"plots", "training", "styles", "frames"},
    "video": LEAVES | {"plots", "transfer", "styles", "fast", "frames"},
    "evaluation": LEAVES | {"plots", "transfer", "styles", "classifier", "video", "fast"},
    "app": LEAVES | ENGINE,
    "cli": LEAVES | ENGINE | {"app"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _target(base: str, name: str, modules: Mapping[str, Path]) -> str:
    """The module ``from base import name`` depends on: the submodule ``base.name`` when there is one, else the
    module that defines ``name`` (a package's lazy re-export leads to it), else ``base``."""
    if f"{base}.{name}" in modules:
        return f"{base}.{name}"
    if base in modules and modules[base].name == "__init__.py":
        obj = getattr(importlib.import_module(base), name, None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ in modules:
            return obj.__module__
    return base


def imports_of(source: str, module: str, modules: Mapping[str, Path], is_package: bool = False) -> set[str]:
    """The styleverse modules that ``source`` (the text of ``module``) imports, wherever the import stands;
    relative imports are resolved."""
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.partition(".")[0] == "styleverse"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{anchor}.{base}" if base else anchor
            if base.partition(".")[0] == "styleverse":
                found |= {_target(base, a.name, modules) for a in node.names}
    unknown = found - set(modules)
    assert not unknown, f"{module} imports modules that do not exist: {sorted(unknown)}"
    return found - {module}


GRAPH = {m: imports_of(p.read_text(), m, MODULES, p.name == "__init__.py") for m, p in MODULES.items()}


def domain(module: str) -> str:
    """``styleverse.fast.adain.model`` -> ``fast``; ``styleverse.errors`` -> ``errors``; the root -> ``styleverse``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package(module: str) -> str:
    """The folder a module belongs to (``styleverse.fast.adain`` for ``fast/adain/model.py``); a top-level module
    such as ``errors`` is a unit of its own."""
    if MODULES[module].name == "__init__.py" or module.count(".") == 1:
        return module
    return module.rpartition(".")[0]


def grouped(graph: Mapping[str, Iterable[str]], group: Callable[[str], str]) -> dict[str, set[str]]:
    """The graph between groups of modules (edges inside a group dropped)."""
    out: dict[str, set[str]] = {}
    for node, targets in graph.items():
        out.setdefault(group(node), set()).update(group(t) for t in targets if group(t) != group(node))
    return out


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """One cycle of ``graph`` as a path that ends where it starts (``[a, b, a]``), or [] when there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str]:
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)):
                return cycle
        path.pop()
        done.add(node)
        return []

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return []


@pytest.mark.parametrize("package_name", PACKAGES)
def test_every_exported_name_resolves(package_name: str) -> None:
    mod = importlib.import_module(f"styleverse.{package_name}")
    for name in getattr(mod, "__all__", []):
        assert getattr(mod, name) is not None, f"styleverse.{package_name}.{name}"
    if package_name != "cli":
        assert mod.__all__, f"styleverse.{package_name} re-exports nothing"


def test_every_domain_has_its_rule() -> None:
    assert {domain(m) for m in MODULES} - {"styleverse"} == set(ALLOWED)


@pytest.mark.parametrize("init", sorted(SRC.rglob("__init__.py")), ids=lambda p: str(p.parent.relative_to(SRC.parent)))
def test_typed_names_are_the_lazy_ones(init: Path) -> None:
    """What mypy sees (the imports under TYPE_CHECKING) is ``__all__``, each name the same object at run time,
    and none a submodule's name (importing that submodule would replace the name with the module)."""
    package = ".".join(init.parent.relative_to(SRC.parent).parts)
    mod = importlib.import_module(package)
    typed = typed_imports(init.read_text())
    assert sorted(typed) == sorted(set(getattr(mod, "__all__", [])) - {"__version__"})
    submodules = {p.stem for p in init.parent.glob("*.py")} | {p.parent.name for p in init.parent.glob("*/__init__.py")}
    assert not set(typed) & submodules, "a name a submodule shadows once imported"
    for name, module in typed.items():
        assert getattr(mod, name) is getattr(importlib.import_module(module), name), f"{package}.{name}"
        assert name in dir(mod)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_imports_flow_one_way(name: str) -> None:
    """Leaves import no domain, nothing imports cli, app or the root facade, and each domain (every file below
    it, subpackages included) imports only what it may; styles never imports transfer."""
    files = [m for m in MODULES if domain(m) == name]
    assert files
    for module in files:
        extra = {domain(t) for t in GRAPH[module]} - ALLOWED[name] - {name}
        assert not extra, f"{MODULES[module].relative_to(SRC)} imports {sorted(extra)}"


@pytest.mark.parametrize("level", [lambda m: m, package, domain], ids=["files", "packages", "domains"])
def test_no_import_cycle(level: Callable[[str], str]) -> None:
    cycle = find_cycle(grouped(GRAPH, level))
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_graph_sees_every_kind_of_import_and_the_finder_reports_cycles() -> None:
    """The checks above can fail: imports inside functions, under TYPE_CHECKING and relative ones are edges,
    and a cycle is found and named, however long."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from styleverse.video.job import VideoJob\n"
        "def f():\n    from ..styles import targets\n    import styleverse.nn.vgg as v\n"
        "from . import work\nfrom styleverse.transfer import StyleTransfer\nfrom styleverse import __doc__\n"
    )
    found = imports_of(source, "styleverse.video.output", MODULES)
    assert found == {
        "styleverse.video.job", "styleverse.styles.targets", "styleverse.nn.vgg", "styleverse.video.work",
        "styleverse.transfer.optimize", "styleverse",
    }  # fmt: skip
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"b"}}) == ["b", "c", "d", "b"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    assert find_cycle(grouped({"p.x": {"q.y"}, "q.y": {"p.z"}, "p.z": set()}, lambda m: m[0])) == ["p", "q", "p"]
