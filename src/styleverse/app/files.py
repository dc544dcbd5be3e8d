"""The app's outputs folder, its uploads and the files it offers: one gate for every path a browser sends.

Everything the app writes lives in one outputs folder: each job in a folder of its own
(``stylise-20250101-120000-ab12cd/``), and Gradio's uploads and served copies in ``.uploads/`` inside it
(the app points ``GRADIO_TEMP_DIR`` there), so the server serves nothing from anywhere else. A path that
comes from the page is data, not an instruction: an upload must lie in the uploads folder, a bank or model
picked from a list must resolve inside the folder it was listed from
(:func:`styleverse.io.paths.resolve_inside`: no ``..``, no absolute paths, no symbolic links leading out).

Uploads are checked before any job sees them: size first (cheap), then for images the header (is it an
image at all, how many pixels) and then a full decode (truncated or corrupt files), each failure one line
naming the file. Accepted uploads are copied into the job's folder under a safe name, so a job's folder
holds everything it read and wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from styleverse.app.config import MB, Limits
from styleverse.errors import InputError
from styleverse.io.images import load_image
from styleverse.io.paths import is_plain_name, resolve_inside

UPLOADS = ".uploads"
IMAGE_KINDS = "PNG, JPEG, WebP, BMP, TIFF or GIF"
MAX_LISTED = 500  # files a bank or model folder may offer
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
_ABSOLUTE = re.compile(r"(?<![\w.~:/-])(?:/[^\s/'\"`<>|]+)+/?")


def no_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last part (the page never shows where the server
    keeps files: ``/srv/out/.uploads/ab12/clip.mp4: not a video`` -> ``clip.mp4: not a video``)."""

    def name(m: re.Match[str]) -> str:
        path = m.group(0).rstrip(":,;.)")
        return Path(path).name + m.group(0)[len(path) :]

    return _ABSOLUTE.sub(name, text)


def safe_name(name: str, fallback: str = "upload") -> str:
    """A file name made of letters, digits, ``._-`` only (at most 60 characters before the extension), never
    hidden; ``fallback`` when nothing of ``name`` is left. Keeps a short lower-case extension."""
    p = Path(name.replace("\\", "/").split("/")[-1])
    suffix = p.suffix.lower() if _SUFFIX.fullmatch(p.suffix.lower()) else ""
    stem = _UNSAFE.sub("_", p.stem if suffix else p.name).strip("._-")[:60]
    out = (stem or fallback) + suffix
    return out if is_plain_name(out) else fallback + suffix


class Workspace:
    """The outputs folder: job folders, the uploads folder, and confinement checks for both."""

    def __init__(self, root: str | os.PathLike[str], limits: Limits | None = None) -> None:
        self.root = Path(root).absolute()
        self.uploads = self.root / UPLOADS
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.limits = limits or Limits()

    def new_job(self, kind: str) -> Path:
        """A fresh folder for one job: ``KIND-YYYYmmdd-HHMMSS-RANDOM`` (unguessable, sorted by time)."""
        if not is_plain_name(kind):
            raise ValueError(f"job kind must be a plain name, not {kind!r}")
        for _ in range(8):
            folder = self.root / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
        raise RuntimeError("could not make a unique job folder")  # pragma: no cover - 8 collisions of 24 bits

    def inside(self, path: str | os.PathLike[str], base: Path | None = None, what: str = "file") -> Path:
        """``path`` when it lies inside ``base`` (default: the outputs folder) after symbolic links are
        followed; otherwise :class:`InputError`. Relative paths are taken relative to ``base``."""
        root = base or self.root
        p = Path(path)
        if p.is_absolute():
            try:
                rel = p.relative_to(root)
            except ValueError:
                raise InputError(f"{what} '{p.name}' is outside the app's folder; refused") from None
        else:
            rel = p
        return resolve_inside(root, rel.as_posix(), what)

    def upload(self, path: str | os.PathLike[str] | None, what: str = "upload", kind: str | None = None) -> Path:
        """An uploaded file as the app received it: a regular file inside the uploads folder; with ``kind``
        (``image``, ``bank``, ``model``, ``video``) also checked as one, and removed at once when refused."""
        if not path:
            raise InputError(f"no {what}: choose a file first")
        p = self.inside(path, self.uploads, what)
        if not p.is_file():
            raise InputError(f"{what} '{p.name}' is gone from the server; upload it again")
        if kind is not None:
            try:
                _CHECKS[kind](p, self.limits)
            except InputError:
                discard(p)
                raise
        return p

    def stage(self, src: Path, folder: Path, fallback: str = "upload") -> Path:
        """Copy an accepted upload into a job's folder under a safe, unused name; returns the copy."""
        name = safe_name(src.name, fallback)
        dst = folder / name
        n = 2
        while dst.exists():
            dst = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
            n += 1
        shutil.copyfile(src, dst)
        return dst


def check_file_size(path: Path, max_mb: float) -> None:
    """Refuse an empty file or one over ``max_mb`` megabytes, naming it."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path.name}: the file is empty")
    if size > max_mb * MB:
        raise InputError(f"{path.name}: {size / MB:.1f} MB is more than the {max_mb:g} MB this server accepts")


def check_image(path: Path, limits: Limits) -> Path:
    """An uploaded image that the library can read and that is within the limits; else one-line InputError."""
    check_file_size(path, limits.max_upload_mb)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        raise InputError(f"{path.name}: far more pixels than this server accepts; shrink it first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InputError(f"{path.name}: not an image; upload a {IMAGE_KINDS} file") from None
    if w * h > limits.max_pixels:
        raise InputError(
            f"{path.name}: {w}x{h} is {w * h / 1e6:.1f} megapixels, more than the {limits.max_pixels / 1e6:g} "
            "this server accepts; shrink it first"
        )
    try:
        load_image(path, max_pixels=limits.max_pixels)  # a full decode: truncated or corrupt files fail here
    except InputError as e:
        raise InputError(f"{path.name}: damaged or unreadable image ({_cause(e)}); upload it again") from None
    return path


def _cause(e: Exception) -> str:
    text = str(e)
    return text.split(": ", 1)[1] if ": " in text else text


def discard(path: Path) -> None:
    """Remove a refused upload, and its folder when that is left empty."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def check_bank(path: Path, limits: Limits) -> Path:
    """An uploaded style bank: within the size limit and readable as a bank."""
    from styleverse.styles.bank import load_bank

    check_file_size(path, limits.max_upload_mb)
    try:
        load_bank(path)
    except InputError as e:
        raise InputError(f"{path.name}: not a style bank ({_cause(e)})") from None
    return path


_CHECKS: dict[str, Callable[[Path, Limits], object]] = {
    "image": check_image,
    "bank": check_bank,
    "model": lambda p, lim: check_file_size(p, lim.max_upload_mb),
    "video": lambda p, lim: check_file_size(p, lim.max_video_mb),
}


def list_files(folder: Path | None, suffixes: Iterable[str]) -> list[str]:
    """Files under ``folder`` with one of ``suffixes``, as forward-slash paths relative to it (hidden files
    and folders left out, at most :data:`MAX_LISTED`); empty when there is no folder."""
    if folder is None or not folder.is_dir():
        return []
    want = tuple(s.lower() for s in suffixes)
    found = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.suffix.lower() in want and not any(part.startswith(".") for part in rel.parts) and p.is_file():
            found.append(rel.as_posix())
            if len(found) >= MAX_LISTED:
                break
    return found


def pick(folder: Path | None, name: str, what: str) -> Path:
    """The file ``name`` (as :func:`list_files` gave it) inside ``folder``; InputError when it is not there
    or would lead out of the folder."""
    if folder is None:
        raise InputError(f"{what} '{name}': this server was started without a folder for them")
    p = resolve_inside(folder, name, what)
    if not p.is_file():
        raise InputError(f"{what} '{name}': no such file in {folder.name}/")
    return p


def public_json(path: Path, folder: Path) -> Path:
    """A copy of the JSON file ``path`` for the browser (``folder/public/NAME``): every absolute path in it
    made relative to the job's ``folder`` (or cut to its name when outside), so no download shows where the
    server keeps its files."""

    def scrub(v: object) -> object:
        if isinstance(v, dict):
            return {k: scrub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [scrub(x) for x in v]
        if isinstance(v, str) and v.startswith("/"):
            p = Path(v)
            return p.relative_to(folder).as_posix() if p.is_relative_to(folder) else p.name
        return no_paths(v) if isinstance(v, str) else v

    return public_copy(path, folder, json.dumps(scrub(json.loads(path.read_text())), indent=2))


def public_copy(path: Path, folder: Path, text: str | None = None) -> Path:
    """A copy of the text file ``path`` for the browser, ``folder/public/NAME``: ``text`` when given (a
    caller's own rewrite), else the file with every absolute path cut to its last part (:func:`no_paths`)."""
    out = folder / "public" / path.name
    out.parent.mkdir(exist_ok=True)
    out.write_text(no_paths(path.read_text(encoding="utf-8")) if text is None else text, encoding="utf-8")
    return out
