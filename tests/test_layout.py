"""The package layout: every subpackage re-exports its public names, lazily, and the domains import one way."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import styleverse
from styleverse._exports import typed_imports

SRC = Path(styleverse.__file__).parent
PACKAGES = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
# what each domain may import (besides itself): leaves import no domain; cli and app sit on top
LEAVES = {"errors", "devices", "versions", "progress", "_exports", "io", "nn"}
ALLOWED = {
    "io": {"errors", "devices", "_exports"},
    "nn": {"errors", "devices", "io", "_exports"},
    "training": LEAVES | {"plots"},
    "frames": LEAVES | {"plots"},
    "transfer": LEAVES | {"plots", "styles"},
    "styles": LEAVES | {"plots", "transfer", "frames"},
    "classifier": LEAVES | {"plots", "frames", "training"},
    "fast": LEAVES | {"plots", "training", "transfer", "styles", "frames"},
    "video": LEAVES | {"plots", "transfer", "styles", "fast"},
    "evaluation": LEAVES | {"plots", "transfer", "styles", "classifier", "video", "fast"},
}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    mod = importlib.import_module(f"styleverse.{package}")
    for name in getattr(mod, "__all__", []):
        assert getattr(mod, name) is not None, f"styleverse.{package}.{name}"
    if package != "cli":
        assert mod.__all__, f"styleverse.{package} re-exports nothing"


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


def _imported_domains(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("styleverse."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("styleverse.")}
    return found


@pytest.mark.parametrize("domain", sorted(ALLOWED))
def test_imports_flow_one_way(domain: str) -> None:
    """Leaves import no domain, domains never import cli or app, and each imports only what it may."""
    for path in (SRC / domain).glob("*.py"):
        extra = _imported_domains(path) - ALLOWED[domain] - {domain}
        assert not extra, f"{path.relative_to(SRC)} imports {sorted(extra)}"
