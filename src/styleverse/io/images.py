"""Image I/O: load anything Pillow reads into upright sRGB, convert PIL <-> tensors, write atomically.

Conventions (DESIGN.md): pixels are float32 RGB in [0, 1], shape (N, 3, H, W). Loading normalises every
mode (palette, alpha, greyscale, CMYK, 16-bit), applies EXIF orientation and converts ICC profiles to
sRGB, so the rest of the code sees one kind of image. Saved images carry no metadata from the inputs.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from styleverse.errors import InputError, OutputError, WriteError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold
_UMASK = os.umask(0)
os.umask(_UMASK)
# Atomic writes go through ``.<final name>.tmp<8 random chars>[<suffix>]`` beside the final file: hidden,
# so no folder listing counts one as an image, and recognisable, so a later run can remove what a kill left.
_TEMP_INFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\.(?P<final>.+)\.tmp[a-z0-9_]{8}(?:\.[^.]*)?$")
_HINTS = {  # said after the system's own words, where those leave the user guessing
    errno.ENOSPC: "disk full",
    errno.ELOOP: "a symbolic link loop in the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "no such folder",
}


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is composited over white."""
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        with contextlib.suppress(Exception):  # a broken profile falls back to a plain conversion
            src: ImageCms.ImageCmsProfile | ImageCms.core.CmsProfile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            base = img.convert("RGB") if img.mode in ("RGBA", "LA") else img
            alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
            if base.mode == "L":
                base = base.convert("RGB")
                src = dst  # a grey profile does not map to RGB directly; luminance is kept as is
            img2 = ImageCms.profileToProfile(base, src, dst, outputMode="RGB")
            if img2 is not None:
                img = img2 if alpha is None else Image.merge("RGBA", (*img2.split(), alpha))
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        scale = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def load_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> Image.Image:
    """Open an image as upright 8-bit sRGB.

    Raises :class:`InputError` for missing, empty, truncated, non-image or oversized files. The pixel limit
    (default Pillow's) guards against decompression bombs; Pillow's warning is treated as an error.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, expected an image file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes)")
    return _decode(p, str(p), max_pixels)


def decode_image(data: bytes, name: str, max_pixels: int | None = None) -> Image.Image:
    """:func:`load_image` for an image held in memory (a camera frame the browser sent); ``name`` is what
    its one-line errors call it."""
    if not data:
        raise InputError(f"{name}: empty (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(source: Path | io.BytesIO, name: str, max_pixels: int | None) -> Image.Image:
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                w, h = img.size
                if w * h > limit:
                    raise InputError(
                        f"{name}: {w}x{h} exceeds the pixel limit of {limit:,} (possible decompression bomb)"
                    )
                img.load()
                upright = ImageOps.exif_transpose(img) or img
                return _to_rgb(upright)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"{name}: image too large, refused as a possible decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{name}: cannot read image ({e})") from None


def header_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) as stored in the file's header, without decoding the pixels (so an estimate of the
    memory a size needs costs nothing); None for a file that is not a readable image. EXIF orientation is not
    applied: the pixel count and the longest side are the same either way."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def resize_longest(img: Image.Image, size: int | None) -> Image.Image:
    """Scale so the longest side is ``size`` pixels (Lanczos); ``None`` keeps the image as it is."""
    if size is None:
        return img
    w, h = img.size
    s = size / max(w, h)
    new = (max(1, round(w * s)), max(1, round(h * s)))
    return img if new == (w, h) else img.resize(new, Image.Resampling.LANCZOS)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> float32 (1, 3, H, W) in [0, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) float in [0, 1] -> PIL RGB (values are clamped, input untouched)."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError("tensor_to_pil expects a single image")
        t = t[0]
    arr = (t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def load_tensor(path: str | os.PathLike[str], size: int | None = None) -> torch.Tensor:
    """Load an image file as a (1, 3, H, W) tensor, longest side ``size``."""
    return pil_to_tensor(resize_longest(load_image(path), size))


def is_image_name(name: str) -> bool:
    """A file name a folder listing counts as an image: an image extension and not hidden (which leaves out
    our own temporary files and the ``._name.jpg`` side files some systems write)."""
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def list_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders into their image files (sorted; hidden files skipped); plain files are kept as given."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if is_image_name(q.name) and q.is_file())
            if not found:
                raise InputError(f"{p}: folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            out.extend(found)
        elif not p.exists():
            raise InputError(f"{p}: no such file or folder")
        else:
            out.append(p)
    return out


def image_format_for(path: str | os.PathLike[str]) -> str:
    """Pillow format name from a file extension; :class:`OutputError` if none fits."""
    ext = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise OutputError(f"{path}: cannot tell an image format from extension '{ext or '(none)'}' (try .png or .jpg)")
    return fmt


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
        return False


def os_error_cause(e: OSError) -> str:
    """The cause of an environment error in the system's words, with a plain hint where those are obscure:
    ``No space left on device (disk full)``, ``Read-only file system``, ``Permission denied``,
    ``Too many levels of symbolic links (a symbolic link loop in the path)``."""
    text = e.strerror or (os.strerror(e.errno) if e.errno else str(e))
    hint = _HINTS.get(e.errno or -1)
    return f"{text} ({hint})" if hint else str(text)


def probe_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` if missing and prove a file can be written in it, before any work is done;
    :class:`WriteError` naming the folder and the cause (read-only, no permission, link loop, ...)."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=f".probe{_TEMP_INFIX}"):
            pass
    except OSError as e:
        cause = os_error_cause(e)
        if isinstance(e, FileExistsError):  # something other than a folder stands there: say what
            try:
                os.stat(path)
                cause = "a file stands there, not a folder"
            except OSError as real:
                cause = os_error_cause(real)
        raise WriteError(f"{path}: cannot write there ({cause})", str(path), cause, e.errno) from None
    return path


def check_output(
    path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = (), overwrite: bool = False
) -> Path:
    """Validate an output path before any work is done: not an input, not present (unless overwrite),
    and its folder writable (created if missing)."""
    out = Path(path)
    for src in inputs:
        if _same_file(out, Path(src)):
            raise OutputError(f"{out}: output path is also an input ({src}); choose another name")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; give a file name")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; pass --overwrite to replace it")
    probe_folder(out.parent)
    return out


def remove_temp_files(folder: str | os.PathLike[str], finals: Iterable[str] | None = None) -> int:
    """Remove temporary files a killed atomic write left in ``folder`` (only those for the file names in
    ``finals`` when given); returns how many. Call it while holding the folder's or the file's lock
    (:mod:`styleverse.io.lock`), so no running writer loses its temporary file."""
    only = None if finals is None else set(finals)
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m and (only is None or m.group("final") in only) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


def temp_beside(path: Path) -> Path:
    """A new empty temporary file beside ``path``, named as :func:`remove_temp_files` recognises, with the
    permissions a plain new file gets (mkstemp makes 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{_TEMP_INFIX}", suffix=path.suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    An :class:`OSError` while making, writing or renaming the temporary file (disk full, read-only file
    system, no permission, a symbolic-link loop) becomes one :class:`WriteError` naming ``path`` and the
    cause, so every writer reports environment problems as a user error (exit status 2), not a bug.
    """
    final = Path(path)
    tmp_path: Path | None = None
    try:
        tmp_path = temp_beside(final)
        yield tmp_path
        os.replace(tmp_path, final)
    except OSError as e:
        cause = os_error_cause(e)
        raise WriteError(f"{final}: cannot write ({cause})", str(final), cause, e.errno) from None
    finally:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes so readers see the old file or the whole new one, never a part."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (temp file + rename); non-JSON values become strings, and
    NaN and infinities become null (JSON has no such numbers: other readers would refuse the file)."""
    text = json.dumps(_finite_or_null(data), indent=2, default=str, allow_nan=False)
    write_bytes_atomic(path, (text + "\n").encode())
    return Path(path)


def _finite_or_null(data: Any) -> Any:
    """``data`` with every non-finite float (at any depth of dicts, lists and tuples) replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite_or_null(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite_or_null(v) for v in data]
    return data


def save_image(image: torch.Tensor | Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write an image atomically, format from the extension, with no metadata copied from any input."""
    fmt = image_format_for(path)
    pil = image if isinstance(image, Image.Image) else tensor_to_pil(image)
    pil = Image.frombytes("RGB", pil.size, pil.convert("RGB").tobytes())  # drop any info/EXIF
    kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as tmp:
        pil.save(tmp, format=fmt, **kwargs)
    return Path(path)


def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflection-pad (N,3,H,W) on the bottom/right to multiples of ``m``; returns it and the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    return x, (h, w)
