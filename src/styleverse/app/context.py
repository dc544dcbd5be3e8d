"""What every tab of one app server shares: its settings, its outputs folder and the jobs' stop tickets."""

from __future__ import annotations

from dataclasses import dataclass, field

from styleverse.app.config import AppConfig
from styleverse.app.files import Workspace, list_files
from styleverse.app.jobs import Tickets

BANK_SUFFIXES = (".safetensors",)
MODEL_SUFFIXES = (".safetensors", ".onnx")


@dataclass
class AppContext:
    """One server's state. Tabs get it instead of globals, so tests can build several apps side by side."""

    config: AppConfig
    workspace: Workspace
    tickets: Tickets = field(default_factory=Tickets)

    @classmethod
    def create(cls, config: AppConfig) -> AppContext:
        """Check the settings and open (or make) the outputs folder."""
        config.validate()
        return cls(config, Workspace(config.outputs))

    def bank_names(self) -> list[str]:
        """Style banks the ``--banks`` folder offers (relative paths), for the universe pickers."""
        return list_files(self.config.banks, BANK_SUFFIXES)

    def model_names(self) -> list[str]:
        """Real-time models the ``--models`` folder offers (relative paths)."""
        return list_files(self.config.models, MODEL_SUFFIXES)
