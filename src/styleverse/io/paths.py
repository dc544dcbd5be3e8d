"""One confinement rule for paths read from files we did not just write, and one rule for plain names.

A manifest, a CSV, a bank's recorded sources, a checkpoint's recorded paths and (soon) a web upload are
data, not instructions: a row saying ``../../etc/x.png`` or ``/home/me/photo.jpg`` must not make a command
read, write beside, or delete files outside the folder the data belongs to. :func:`resolve_inside` is the
one gate every such path goes through: it is relative, climbs nowhere, and — after symbolic links are
followed — still lies inside its root, or the reader refuses it with one line naming where it came from.

A *plain name* (:func:`is_plain_name`) is what may become a single folder or file name: a dataset label,
for instance. It has no separators, is not hidden, and holds no characters a filesystem or shell treats
specially.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from styleverse.errors import InputError

_SPECIAL = frozenset('/\\:*?"<>|')


def is_plain_name(name: str) -> bool:
    """True when ``name`` can be one folder or file name: non-empty, no surrounding spaces, not hidden (no
    leading dot, so never ``.`` or ``..``), printable, and free of ``/ \\ : * ? " < > |``."""
    return (
        bool(name)
        and name == name.strip()
        and not name.startswith(".")
        and name.isprintable()
        and not any(c in _SPECIAL for c in name)
    )


def resolve_inside(root: str | os.PathLike[str], rel: str, where: str = "") -> Path:
    """``root / rel`` (joined, not resolved, so messages show it as the user knows it; it need not exist) when
    ``rel`` is relative, uses ``/``, has no ``..`` nor NUL and its links stay inside ``root``; otherwise one
    :class:`InputError` prefixed by ``where`` (e.g. ``"data/manifest.csv line 7"``)."""
    base = Path(root)
    prefix = f"{where}: " if where else ""
    text = rel.strip()
    pure = PurePosixPath(text)
    if not text or "\x00" in text:
        raise InputError(f"{prefix}empty or invalid path '{rel}'")
    if pure.is_absolute() or PureWindowsPath(text).anchor:
        raise InputError(f"{prefix}path '{rel}' is absolute; it must be relative to {base}")
    if "\\" in text:
        raise InputError(f"{prefix}path '{rel}' holds a backslash; use '/' between folders, relative to {base}")
    if ".." in pure.parts:
        raise InputError(f"{prefix}path '{rel}' climbs out with '..'; it must stay inside {base}")
    path = base.joinpath(*pure.parts)
    try:
        inside = path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
        raise InputError(f"{prefix}path '{rel}' cannot be resolved (a symbolic link loop?)") from None
    if not inside:
        raise InputError(f"{prefix}path '{rel}' leads out of {base} through a symbolic link; refused")
    return path
