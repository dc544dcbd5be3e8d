"""All outputs of one command, checked against every input and against each other before any work starts.

A command that writes several things (an image, its sidecar, a plot, snapshots, a report folder, a bank)
used to check each on its own — or only when it came to write it, after the whole run. Gaps followed: a
plot path equal to the image replaced the image, a report folder equal to the input folder joined the
input set on the next run, an unknown plot extension failed at the very end. :func:`check_outputs` takes
every output of a command at once, by the flag the user gave it, and refuses with one line naming that
flag when:

* two outputs are the same path;
* an output is an input (same file, after links), or a folder output is an input folder, lies inside
  one (its files would join that input) or holds an input file (it could be replaced);
* a file output is an existing folder, or exists without ``overwrite``; a folder output is a file;
* the extension does not fit (an image format Pillow writes, or the suffixes the caller allows);
* its folder cannot be written (read-only, no permission, a symbolic-link loop).

Single-file checks are :func:`styleverse.io.images.check_output`'s; this module adds the cross checks, with
every input resolved once (a dataset's thousands of images against a few outputs stays cheap).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from styleverse.errors import OutputError, WriteError
from styleverse.io.images import check_output, image_format_for, probe_folder

PathLike = str | os.PathLike[str]
NAMED_NETWORKS = frozenset({"imagenet", "random", "scratch"})  # weight sources that are not files


def network_files(*sources: PathLike | None) -> list[Path]:
    """The files among network sources (``--backbone``, ``--init``, a classifier or model path): every source
    given that is not a named network, so that no output can replace the weights a command reads."""
    return [Path(s) for s in sources if s is not None and str(s) not in NAMED_NETWORKS]


@dataclass(frozen=True)
class Output:
    """One output of a command: its path, whether it is a plain ``file``, an ``image`` (format from the
    extension) or a ``folder``, and for a file the extensions it may have (empty: any)."""

    path: PathLike
    kind: Literal["file", "image", "folder"] = "file"
    suffixes: tuple[str, ...] = ()


def _resolved(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: compare as written; writing will say why
        return p.absolute()


def _inode(p: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(p)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


class _Inputs:
    """Every input resolved once (path after links, and device/inode for hard links), so checking many
    outputs against thousands of dataset images stays cheap."""

    def __init__(self, inputs: Iterable[PathLike]) -> None:
        self.by_path: dict[Path, Path] = {}
        self.by_inode: dict[tuple[int, int], Path] = {}
        self.folders: list[tuple[Path, Path]] = []
        for raw in inputs:
            src = Path(raw)
            real = _resolved(src)
            self.by_path.setdefault(real, src)
            ino = _inode(src)
            if ino is not None:
                self.by_inode.setdefault(ino, src)
            if src.is_dir():
                self.folders.append((real, src))

    def same(self, out: Path) -> Path | None:
        """The input that ``out`` is (same path after links, or the same file through a hard link)."""
        hit = self.by_path.get(_resolved(out))
        ino = _inode(out) if hit is None else None
        return hit if hit is not None or ino is None else self.by_inode.get(ino)

    def check_folder(self, flag: str, out: Path) -> None:
        real = _resolved(out)
        for folder, src in self.folders:
            if real != folder and real.is_relative_to(folder):
                raise OutputError(f"{flag} {out}: lies inside the input folder {src}; its files would join that input")
        for path, src in self.by_path.items():
            if path != real and path.is_relative_to(real):
                raise OutputError(f"{flag} {out}: holds the input {src}, which an output could replace")


def _check_cross(outs: dict[str, tuple[Path, Output]], inputs: _Inputs) -> None:
    seen: dict[Path, str] = {}
    for flag, (path, spec) in outs.items():
        key = _resolved(path)
        if key in seen:
            raise OutputError(f"{flag} {path}: same path as {seen[key]}; give each output its own name")
        seen[key] = flag
        src = inputs.same(path)
        if src is not None:
            raise OutputError(f"{flag} {path}: is also an input ({src}); choose another name")
        if spec.kind == "folder":
            inputs.check_folder(flag, path)


def _writable_ancestor(flag: str, path: Path) -> None:
    """A folder output that does not exist yet is not created by the check (a refused run must leave
    nothing behind); its nearest existing ancestor must be a folder this process may write in."""
    probe = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not probe.is_dir():
        raise WriteError(f"{flag} {path}: cannot create it ({probe} is a file, not a folder)", str(path))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise WriteError(f"{flag} {path}: cannot create it ({probe}: permission denied)", str(path))


def _check_one(flag: str, path: Path, spec: Output, overwrite: bool) -> None:
    if spec.kind == "folder":
        if path.is_dir():
            probe_folder(path)
        elif os.path.lexists(path):
            raise OutputError(f"{flag} {path}: exists and is not a folder")
        else:
            _writable_ancestor(flag, path)
        return
    if spec.kind == "image":
        image_format_for(path)
    elif spec.suffixes and path.suffix.lower() not in spec.suffixes:
        raise OutputError(f"{flag} {path}: extension must be {' or '.join(spec.suffixes)}")
    try:
        check_output(path, (), overwrite)
    except OutputError as e:
        raise type(e)(f"{flag} {e}") from None


def check_outputs(
    outputs: Mapping[str, PathLike | Output | None], inputs: Iterable[PathLike] = (), overwrite: bool = False
) -> dict[str, Path]:
    """Check every output of one command (keyed by its flag, e.g. ``"-o"``) against every input and each other
    before any work (see the module doc); returns the paths by flag. A bare path is a file output of any
    extension; ``None`` (not asked for) is skipped. Parents of files are created to prove they can be written;
    a missing folder output is not (its caller creates it when work starts)."""
    outs: dict[str, tuple[Path, Output]] = {}
    for flag, value in outputs.items():
        if value is None:
            continue
        spec = value if isinstance(value, Output) else Output(value)
        outs[flag] = (Path(spec.path), spec)
    _check_cross(outs, _Inputs(inputs))
    for flag, (path, spec) in outs.items():
        _check_one(flag, path, spec, overwrite)
    return {flag: path for flag, (path, _) in outs.items()}
