"""One exception hierarchy for every error a user can cause.

The CLI prints the message as a single line and exits with :attr:`StyleverseError.exit_code` (2).
Anything else that escapes is a bug. A :class:`ConfigError` speaks of settings by their library names (the
fields of a job's dataclass, a function's parameters) and lists them in ``settings``, so that each front end
can call them its own way (:meth:`StyleverseError.worded`): the CLI by their flags, the app by its controls'
labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence


class StyleverseError(Exception):
    """Base class: a problem the user can fix; the message says what was wrong and what to do."""

    exit_code = 2
    settings: tuple[str, ...] = ()

    def worded(self, name: Callable[[str], str | None]) -> str:
        """The message with each setting it names said as ``name(setting)`` calls it (unchanged where that is
        None): ``steps must be at least 1`` -> ``--steps must be at least 1`` for the CLI. Only the name as a
        word is replaced, never inside a path or file name (``b.resume.safetensors`` stays)."""
        text = str(self)
        for setting in self.settings:
            said = name(setting)
            if said:
                word = rf"(?<![\w./\\-]){re.escape(setting)}(?![\w/\\-]|\.\w)"
                text = re.sub(word, said.replace("\\", r"\\"), text)
        return text


class InputError(StyleverseError):
    """An input file (image, video, CSV, manifest) is missing, unreadable or not what it claims."""


class DamagedFileError(InputError):
    """A file styleverse wrote no longer matches the checksum written with it (a changed or lost byte)."""


class OutputError(StyleverseError):
    """An output path is unusable: equal to an input, already present, or not writable."""


class WeightsError(StyleverseError):
    """Network weights are missing, cannot be downloaded, or do not fit the architecture."""


class ConfigError(StyleverseError):
    """A setting is out of range or settings contradict each other; ``setting`` names the one (or those) the
    message speaks of, exactly as the message writes it."""

    def __init__(self, message: str, setting: str | Sequence[str] = ()):
        super().__init__(message)
        self.settings = (setting,) if isinstance(setting, str) else tuple(setting)


class LockedError(OutputError):
    """An output (dataset, run folder, bank, image) is held by another running styleverse process."""


class WriteError(OutputError, OSError):
    """Writing an output failed for a reason of the environment: disk full, read-only, no permission, a
    symbolic-link loop. It is an :class:`OSError` too (``errno``, ``strerror`` = the plain cause,
    ``filename`` = the path), so code that handles OS errors still does; ``str()`` is the one-line message.
    A job with a finished result in memory catches it to keep its resume state."""

    def __init__(self, message: str, path: str | None = None, cause: str | None = None, code: int | None = None):
        super().__init__(message)
        self.message, self.path = message, path
        self.errno, self.strerror, self.filename = code, cause, path

    def __str__(self) -> str:
        return self.message
