"""What every tab of one app server shares: its settings, its outputs folder, the jobs' stop tickets, and the
lists of universes and models the page offers (read again whenever a page asks, never cached)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from styleverse.app.config import AppConfig
from styleverse.app.disk import Holds, sweep
from styleverse.app.files import Workspace, list_files, pick
from styleverse.app.jobs import Ticket, Tickets
from styleverse.errors import InputError
from styleverse.io.paths import resolve_inside

BANK_SUFFIXES = (".safetensors",)
MODEL_SUFFIXES = (".safetensors", ".onnx")
STATE_SUFFIX = ".resume.safetensors"  # a training's resume state: not a model
BUILT = "made here/"  # prefix of the banks built in this app's Universes tab
BUILT_PATTERNS = ("bank-*/*.style.safetensors", "analysis-*/subset-*.style.safetensors")


@dataclass
class AppContext:
    """One server's state. Tabs get it instead of globals, so tests can build several apps side by side.
    ``pickers``: the page's dropdowns of universes or models with the function that lists their choices
    (or, for another element that shows such a list, gives its update: the gallery of universes); registered
    by the tabs, refreshed by the server when a page opens and when a bank is built. ``costs``: what a video
    frame cost on this server, as its last video job measured it."""

    config: AppConfig
    workspace: Workspace
    tickets: Tickets = field(default_factory=Tickets)
    holds: Holds = field(default_factory=Holds)
    pickers: list[tuple[Any, Callable[[], Any]]] = field(default_factory=list)
    costs: dict[str, float] = field(default_factory=dict)  # what a video frame cost here (app.video.estimate)

    @classmethod
    def create(cls, config: AppConfig) -> AppContext:
        """Check the settings and open (or make) the outputs folder."""
        config.validate()
        return cls(config, Workspace(config.outputs, config.limits))

    def bank_names(self) -> list[str]:
        """Style banks the page offers: the ``--banks`` folder's (relative paths), then the banks built in the
        Universes tab (``made here/FOLDER/NAME``), newest first."""
        built = sorted({p for pat in BUILT_PATTERNS for p in self.workspace.root.glob(pat)}, reverse=True)
        return list_files(self.config.banks, BANK_SUFFIXES) + [BUILT + p.relative_to(self.workspace.root).as_posix()
                                                               for p in built if p.is_file()]  # fmt: skip

    def bank_path(self, name: str) -> Path:
        """The file of a universe as :meth:`bank_names` lists it (confined to its folder)."""
        if name.startswith(BUILT):
            p = resolve_inside(self.workspace.root, name[len(BUILT) :], "universe")
            if p.name.endswith(".style.safetensors") and p.is_file():
                return p
            raise InputError(f"universe '{name}': no longer on the server; build it again")
        return pick(self.config.banks, name, "universe")

    def model_names(self) -> list[str]:
        """Real-time models the ``--models`` folder offers (relative paths; resume states left out)."""
        return [m for m in list_files(self.config.models, MODEL_SUFFIXES) if not m.endswith(STATE_SUFFIX)]

    def hold(self, ticket: Ticket, folder: Path) -> None:
        """Keep a job's folder while the page that ran it is open (and while it runs)."""
        self.holds.hold(ticket.session, folder)

    def sweep(self, room: int = 0) -> int:
        """Remove expired uploads and job folders, leaving ``room`` bytes (:func:`styleverse.app.disk.sweep`)."""
        return sweep(self.workspace, self.config.keep_hours, self.config.max_disk_gb, self.holds.held(), room)

    def offer(self, dropdown: Any, choices: Callable[[], Any]) -> Any:
        """Register ``dropdown`` as offering ``choices()``, a list of names or an element's whole update (see
        ``pickers``); returns it."""
        self.pickers.append((dropdown, choices))
        return dropdown
