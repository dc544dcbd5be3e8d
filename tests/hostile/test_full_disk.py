"""A full disk and an interrupted write never cost the previous file, and never leave a partial one.

For every kind of file: too little free space is refused before a byte is written (one line naming the file,
the size needed and the space free); a disk that fills up part-way (ENOSPC) and a process stopped part-way
(Ctrl-C) leave the previous version whole and no temporary file behind.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures.artefacts import KINDS, artefact
from styleverse.errors import WriteError
from styleverse.io import tensorfile


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _usage(free: int) -> Any:
    """``shutil.disk_usage`` of a disk with ``free`` bytes free."""
    real_usage = shutil.disk_usage

    def disk_usage(path: str) -> Any:
        real = real_usage(path)
        return type(real)(real.total, real.total - free, free)

    return disk_usage


@pytest.mark.parametrize("kind", KINDS)
def test_too_little_free_space_is_refused_before_writing(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = artefact(kind, tmp_path)
    before, files = made.path.read_bytes(), _files(tmp_path)
    monkeypatch.setattr(tensorfile.shutil, "disk_usage", _usage(1000))
    with pytest.raises(WriteError) as e:
        made.write()
    msg = str(e.value)
    assert "\n" not in msg and made.path.name in msg and "needs " in msg and "only 1.0 kB free" in msg, msg
    assert e.value.errno == errno.ENOSPC
    assert made.path.read_bytes() == before and _files(tmp_path) == files
    monkeypatch.undo()
    made.write()  # room again: it writes


def test_the_free_space_needed_counts_the_file_and_a_margin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.safetensors"
    monkeypatch.setattr(tensorfile.shutil, "disk_usage", _usage(tensorfile.SPACE_MARGIN + 100))
    tensorfile.ensure_free_space(target, 100)
    with pytest.raises(WriteError, match=r"x.safetensors: cannot write \(needs 101 B, only 17 MB free there\)"):
        tensorfile.ensure_free_space(target, 101)


def _cut_short(exc: BaseException) -> Any:
    """A ``Path.write_bytes`` / ``save_file`` that writes half of the file and then fails with ``exc``."""
    real = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        real(self, data[: len(data) // 2])
        raise exc

    def save_file(tensors: Any, filename: str, metadata: Any = None) -> None:
        real(Path(filename), b"\0" * 64)
        raise exc

    return write_bytes, save_file


@pytest.mark.parametrize("fault", ["ENOSPC", "Ctrl-C"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_write_that_fails_part_way_keeps_the_previous_file(
    kind: str, fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    made = artefact(kind, tmp_path)
    before, files = made.path.read_bytes(), _files(tmp_path)
    exc: BaseException = OSError(errno.ENOSPC, "No space left on device") if fault == "ENOSPC" else KeyboardInterrupt()
    write_bytes, save_file = _cut_short(exc)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    with pytest.raises(WriteError if fault == "ENOSPC" else KeyboardInterrupt) as e:
        made.write()
    monkeypatch.undo()
    if fault == "ENOSPC":
        assert "\n" not in str(e.value) and made.path.name in str(e.value) and "No space left" in str(e.value)
    assert made.path.read_bytes() == before and _files(tmp_path) == files, "a partial or temporary file is left"
    made.read()


def test_a_video_frame_is_not_started_without_room_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from styleverse.video.work import WorkFolder

    work = WorkFolder(tmp_path / "v.mp4.work", {})
    work.save_frame(0, torch.rand(1, 3, 16, 16))
    monkeypatch.setattr(tensorfile.shutil, "disk_usage", _usage(tensorfile.SPACE_MARGIN + 1000))
    work.save_frame(1, torch.rand(1, 3, 16, 16))  # 768 bytes raw: fits
    with pytest.raises(WriteError, match=r"000002.png: cannot write \(needs 3.1 kB, only 17 MB free there\)"):
        work.save_frame(2, torch.rand(1, 3, 32, 32))
    assert _files(work.path) == {"frames/000000.png", "frames/000001.png"}


def test_a_video_whose_output_will_not_fit_is_refused_before_encoding_and_keeps_its_frames(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final encode is checked against the free space of the output's folder (the work folder's frames,
    written first, fit); the same command run again with room finishes from the kept frames."""
    from fixtures.clips import pan_frames, write_clip
    from fixtures.images import make_image

    clip = write_clip(tmp_path / "in" / "clip.mp4", pan_frames(4))
    style = make_image(tmp_path / "in" / "style.png", (40, 40), 3)
    out = tmp_path / "out" / "o.mp4"
    args = ["video", clip, "--style", style, "-o", out, "--backbone", "random", "--precision", "fp32", "--quiet",
            "--style-layers", "relu1_1", "--content-layers", "relu1_1", "--steps-first", "2",
            "--steps", "1"]  # fmt: skip
    real_usage = shutil.disk_usage

    def full_beside_the_output(path: str) -> Any:
        real = real_usage(path)
        free = tensorfile.SPACE_MARGIN + 64 if Path(path) == out.parent else real.free
        return type(real)(real.total, real.total - free, free)

    monkeypatch.setattr(shutil, "disk_usage", full_beside_the_output)
    code, _, err = cli(*args)
    line = " ".join(err.split())
    assert code == 2 and "cannot write" in line and "o.mp4" in line, err
    frames = sorted((tmp_path / "out" / "o.mp4.work" / "frames").glob("*.png"))
    assert len(frames) == 4 and not out.exists()
    monkeypatch.undo()
    code, _, err = cli(*args)
    assert code == 0 and out.is_file() and not (tmp_path / "out" / "o.mp4.work").exists(), err
