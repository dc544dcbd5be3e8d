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


class OutputError(StyleverseError):
    """An output path is unusable: equal to an input, already present, or not writable."""


class WeightsError(StyleverseError):
    """Network weights are missing, cannot be downloaded, or do not fit the architecture."""


class ConfigError(StyleverseError):
    """A setting is out of range or settings contradict each other."""
