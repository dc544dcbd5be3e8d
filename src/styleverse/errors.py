"""One exception hierarchy for every error a user can cause.

The CLI prints ``str(error)`` as a single line and exits with :attr:`StyleverseError.exit_code` (2).
Anything else that escapes is a bug.
"""

from __future__ import annotations


class StyleverseError(Exception):
    """Base class: a problem the user can fix; the message says what was wrong and what to do."""

    exit_code = 2


class InputError(StyleverseError):
    """An input file (image, video, CSV, manifest) is missing, unreadable or not what it claims."""


class DamagedFileError(InputError):
    """A file styleverse wrote no longer matches the checksum written with it (a changed or lost byte)."""


class OutputError(StyleverseError):
    """An output path is unusable: equal to an input, already present, or not writable."""


class WeightsError(StyleverseError):
    """Network weights are missing, cannot be downloaded, or do not fit the architecture."""


class ConfigError(StyleverseError):
    """A setting is out of range or settings contradict each other."""


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
