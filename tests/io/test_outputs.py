"""Outputs checked together before work; environment errors while writing; leftovers; memory bounds."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures.images import make_image
from styleverse import devices
from styleverse.errors import ConfigError, OutputError, WriteError
from styleverse.io import images as imgmod
from styleverse.io.images import (
    atomic_path,
    list_images,
    probe_folder,
    remove_temp_files,
    save_image,
    write_bytes_atomic,
)
from styleverse.io.outputs import Output, check_outputs

# --- all outputs at once ------------------------------------------------------------------------------


def test_outputs_pass_and_come_back_by_flag(tmp_path: Path) -> None:
    src = make_image(tmp_path / "in.png")
    got = check_outputs(
        {"-o": Output(tmp_path / "o.png", "image"), "--plot": tmp_path / "p.svg", "--snapshots": None},
        [src],
    )
    assert got == {"-o": tmp_path / "o.png", "--plot": tmp_path / "p.svg"}


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        ({"-o": "o.png", "--plot": "o.png"}, r"--plot .*o\.png: same path as -o"),
        ({"-o": "o.png", "--plot": "sub/../o.png"}, "same path as -o"),
        ({"-o": "in.png"}, r"-o .*in\.png: is also an input"),
        ({"-o": "link.png"}, "is also an input"),  # a hard link to an input
        ({"--snapshot-dir": Output("styles", "folder")}, "is also an input"),
        ({"-o": Output("styles/reports", "folder")}, r"lies inside the input folder .*styles"),
        ({"-o": Output(".", "folder")}, r"holds the input .*in\.png"),
        ({"-o": Output("o.xyz", "image")}, "cannot tell an image format"),
        ({"--write-bank": Output("b.pt", suffixes=(".safetensors",))}, r"--write-bank .*b\.pt: extension must be"),
        ({"-o": "old.png"}, r"-o .*old\.png: already exists; pass --overwrite"),
        ({"-o": "sub"}, r"-o .*sub: is a folder; give a file name"),
        ({"-o": Output("old.png", "folder")}, "exists and is not a folder"),
    ],
)
def test_outputs_refused_before_any_work(tmp_path: Path, outputs: dict, match: str) -> None:
    make_image(tmp_path / "in.png")
    os.link(tmp_path / "in.png", tmp_path / "link.png")
    (tmp_path / "styles").mkdir()
    make_image(tmp_path / "styles" / "a.png")
    (tmp_path / "old.png").write_bytes(b"old")
    (tmp_path / "sub").mkdir()
    resolved = {k: Output(tmp_path / v.path, v.kind, v.suffixes) if isinstance(v, Output) else tmp_path / v
                for k, v in outputs.items()}  # fmt: skip
    inputs = [tmp_path / "in.png", tmp_path / "styles", tmp_path / "styles" / "a.png"]
    with pytest.raises(OutputError, match=match) as err:
        check_outputs(resolved, inputs, overwrite=False)
    assert "\n" not in str(err.value)
    assert (tmp_path / "old.png").read_bytes() == b"old"


def test_overwrite_allows_existing_files_but_never_inputs(tmp_path: Path) -> None:
    (tmp_path / "old.png").write_bytes(b"old")
    assert check_outputs({"-o": tmp_path / "old.png"}, [], overwrite=True)
    with pytest.raises(OutputError, match="also an input"):
        check_outputs({"-o": tmp_path / "old.png"}, [tmp_path / "old.png"], overwrite=True)


def test_folder_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(WriteError, match=r"file: cannot write there \(a file stands there, not a folder\)"):
        check_outputs({"-o": tmp_path / "file" / "o.png"})
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    with pytest.raises(WriteError, match="symbolic link loop") as err:
        check_outputs({"-o": tmp_path / "loop_a" / "o.png"})
    assert str(err.value).startswith(f"-o {tmp_path / 'loop_a'}")


# --- environment errors while writing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.ENOSPC, "No space left on device (disk full)"),
        (errno.EDQUOT, "Disk quota exceeded"),
        (errno.EROFS, "Read-only file system"),
        (errno.EACCES, "Permission denied"),
        (errno.ELOOP, "Too many levels of symbolic links (a symbolic link loop in the path)"),
    ],
)
def test_write_failures_become_one_line_naming_path_and_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, cause: str
) -> None:
    out = tmp_path / "o.png"
    out.write_bytes(b"previous")

    def fail(*_a: object, **_k: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(WriteError) as err:
        save_image(torch.rand(1, 3, 8, 8), out)
    assert str(err.value) == f"{out}: cannot write ({cause})"
    assert err.value.exit_code == 2 and err.value.errno == code and err.value.path == str(out)
    assert isinstance(err.value, OSError)  # code that handles OS errors still does
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]


def test_disk_full_in_write_bytes_and_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(Path, "write_bytes", full)
        with pytest.raises(WriteError, match=r"m\.json: cannot write \(No space left on device \(disk full\)\)"):
            write_bytes_atomic(tmp_path / "m.json", b"{}")

    def no_rename(*_a: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(imgmod.os, "replace", no_rename)
    with pytest.raises(WriteError, match="Permission denied"):
        write_bytes_atomic(tmp_path / "m.json", b"{}")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_symlink_loop_as_output_folder(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(WriteError, match=r"a/o\.png: cannot write \(Too many levels .*\(a symbolic link loop"):
        save_image(torch.rand(1, 3, 8, 8), tmp_path / "a" / "o.png")


def _writes_blocked(folder: Path) -> bool:
    """Whether a chmod-ed folder really refuses writes (it does not for root, who ignores permissions)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            return False
    except OSError:
        return True


def test_read_only_folder_for_real(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if not _writes_blocked(ro):
            pytest.skip("permissions do not stop this user (root); the monkeypatched tests cover the message")
        with pytest.raises(WriteError, match=r"ro/o\.png: cannot write \(Permission denied\)"):
            save_image(torch.rand(1, 3, 8, 8), ro / "o.png")
        with pytest.raises(WriteError, match=r"ro: cannot write there \(Permission denied\)"):
            probe_folder(ro)
    finally:
        ro.chmod(0o755)


# --- leftovers of a kill ------------------------------------------------------------------------------


def test_temp_files_are_hidden_recognised_and_not_images(tmp_path: Path) -> None:
    seen: list[Path] = []
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "x_100.jpg") as tmp:
        seen.append(tmp)
        Image.new("RGB", (8, 8)).save(tmp, format="JPEG")
        raise KeyboardInterrupt
    name = seen[0].name
    assert name.startswith(".x_100.jpg.tmp") and name.endswith(".jpg")
    assert not seen[0].exists()  # an interrupt cleans up; only a kill leaves one
    left = [name, ".x_100.jpg.tmpabcd1234.jpg", ".counts.csv.tmpzz_9x8y7", ".probe.tmpq1w2e3r4"]
    keep = ["x_100.jpg", ".hidden.jpg", "a.tmp", ".x.jpg.tmpSHORT.jpg"]
    for n in left + keep:
        (tmp_path / n).write_bytes(b"x")
    assert remove_temp_files(tmp_path) == len(left)  # recognised as temporary files, and only those
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_list_images_skips_hidden_and_temp_files(tmp_path: Path) -> None:
    make_image(tmp_path / "a.png")
    make_image(tmp_path / ".a.png.tmpabcd1234.png")  # what a kill mid-write leaves
    make_image(tmp_path / "._a.png")  # a macOS side file
    assert list_images([tmp_path]) == [tmp_path / "a.png"]


def test_remove_temp_files_all_or_only_named(tmp_path: Path) -> None:
    for name in (".a.png.tmpabcd1234.png", ".b.png.tmpabcd1234.png", ".hidden", "a.png"):
        (tmp_path / name).write_bytes(b"x")
    assert remove_temp_files(tmp_path, ["a.png"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.png.tmpabcd1234.png", ".hidden", "a.png"]
    assert remove_temp_files(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "a.png"]
    assert remove_temp_files(tmp_path / "missing") == 0


# --- memory estimate ----------------------------------------------------------------------------------


def test_vgg_memory_estimate_scales_and_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    small, large = devices.vgg_pass_bytes(256, 256), devices.vgg_pass_bytes(512, 512)
    assert 3.9 < large / small < 4.1  # activations grow with the pixel count
    assert devices.vgg_pass_bytes(512, 512, batch=4) == 4 * large
    assert devices.vgg_pass_bytes(512, 512, precision="bf16") == large // 2
    assert devices.vgg_pass_bytes(512, 512, backward=False) < large / 3  # no activations kept for a gradient
    assert devices.vgg_pass_bytes(512, 512, deepest_block=1) < devices.vgg_pass_bytes(512, 512, deepest_block=5)
    # 8192 px square with gradients: far beyond any machine here (the 8 GiB first allocation)
    assert devices.vgg_pass_bytes(8192, 8192) > 100 * devices.GIB
    # blocks 1-2 recomputed in backward: their activations and the later blocks' are never held together
    full = devices.vgg_pass_bytes(4096, 4096, precision="bf16")
    ckpt = devices.vgg_pass_bytes(4096, 4096, precision="bf16", checkpoint_blocks=2)
    assert 0.6 * full < ckpt < 0.8 * full and ckpt < 20 * devices.GIB  # measured: 18.5 GiB for the whole process
    monkeypatch.setattr(devices, "available_memory", lambda d: 1 * devices.GIB)
    devices.require_memory(devices.GIB // 2, torch.device("cpu"), "size 512")
    with pytest.raises(ConfigError, match=r"size 8192 needs about 188\.4 GiB, but cpu has 1\.0 GiB free; lower"):
        devices.require_memory(devices.vgg_pass_bytes(8192, 8192), torch.device("cpu"), "size 8192")


def test_available_memory_reads_something_on_cpu() -> None:
    have = devices.available_memory(torch.device("cpu"))
    assert have is None or have > 0
