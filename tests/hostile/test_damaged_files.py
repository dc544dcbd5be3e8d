"""A changed byte or a cut in any file styleverse writes is refused in one line, and the file is left alone.

Every kind of file is written by its real writer and read by its real reader: resume states (the one format
behind stylise, bank builds, training and classifier runs), style banks, fast models, AdaIN decoders,
classifier checkpoints and video work folders. Bits are flipped inside the tensor data, where every value
is a valid number (the case safetensors itself cannot see), and in the header.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.artefacts import KINDS, artefact
from fixtures.cli import one_error_line
from styleverse.errors import DamagedFileError, StyleverseError
from styleverse.io.tensorfile import CHECKSUM_KEY


def data_region(path: Path) -> tuple[int, int]:
    """(first, end) byte offsets of the tensor data of a safetensors file (after its JSON header)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return 8 + n, len(raw)


def flip(path: Path, offset: int, bit: int = 0) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1 << bit
    path.write_bytes(bytes(raw))


def _refused(read: Callable[[], Any], path: Path, kind: type[Exception] = StyleverseError) -> str:
    before = path.read_bytes()
    with pytest.raises(kind) as e:
        read()
    assert path.read_bytes() == before, "a failed read changed the file"
    msg = str(e.value)
    assert "\n" not in msg and path.name in msg, msg
    return msg


@pytest.mark.parametrize("kind", KINDS)
def test_a_flipped_bit_in_the_tensor_data_is_refused_and_the_file_kept(kind: str, tmp_path: Path) -> None:
    made = artefact(kind, tmp_path)
    path, read = made.path, made.read
    read()  # sound as written
    first, end = data_region(path)
    for offset, bit in ((first, 0), ((first + end) // 2, 7), (first + 1 + (end - first) // 3, 3), (end - 1, 0)):
        flip(path, offset, bit)
        assert "damaged" in _refused(read, path, DamagedFileError)
        flip(path, offset, bit)  # back: the next position starts from a sound file
    read()


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_cut_short_is_refused_and_left_alone(kind: str, tmp_path: Path) -> None:
    made = artefact(kind, tmp_path)
    path, read = made.path, made.read
    whole = path.read_bytes()
    first, _ = data_region(path)
    for keep in (len(whole) - 1, first + 1, first - 3, 5):
        path.write_bytes(whole[:keep])
        _refused(read, path)


def test_a_flipped_bit_in_the_header_metadata_is_refused(tmp_path: Path) -> None:
    """A change in the JSON header that still parses (a digit of the fingerprint) is caught too."""
    made = artefact("resume state", tmp_path)
    path, read = made.path, made.read
    raw = path.read_bytes()
    at = raw.index(b"512")
    flip(path, at + 2, 0)  # 512 -> 513: valid JSON, a different setting
    assert "damaged" in _refused(read, path, DamagedFileError)


def test_a_file_written_before_checksums_still_loads(tmp_path: Path) -> None:
    """Nobody's work is lost: a state without ``styleverse_checksum`` (older styleverse) is read as before."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    made = artefact("resume state", tmp_path)
    path, read = made.path, made.read
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    del meta[CHECKSUM_KEY]
    save_file(tensors, str(path), metadata=meta)
    assert read()["step"] == 3  # type: ignore[index]


def test_stylise_resume_from_a_state_with_a_flipped_rng_bit_exits_2_and_keeps_it(  # type: ignore[no-untyped-def]
    cli, images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case of the issue: a bit flipped in the RNG tensor (uint8) of an interrupted run's state."""
    from styleverse.cli import stylize as mod
    from styleverse.transfer.config import StepEvent

    def interrupt_at_2(self, ev):  # type: ignore[no-untyped-def]
        if isinstance(ev, StepEvent) and ev.step == 2:
            raise KeyboardInterrupt

    out = tmp_path / "r.png"
    args = ["stylize", images["content"], "--style", images["style_a"], "-o", out, "--size", "32", "--steps", "4",
            "--backbone", "random", "--precision", "fp32", "--quiet"]  # fmt: skip
    monkeypatch.setattr(mod.StepReporter, "__call__", interrupt_at_2)
    code, _, err = cli(*args)
    state = tmp_path / "r.png.resume.safetensors"
    assert code == 130 and f"interrupted; state saved to {state} (" in "".join(err.split("\n"))
    monkeypatch.undo()
    header = json.loads(state.read_bytes()[8 : data_region(state)[0]])
    begin, _ = header["transfer/rng"]["data_offsets"]
    flip(state, data_region(state)[0] + begin + 100, 2)
    before = state.read_bytes()
    code, _, err = cli(*args, "--resume")
    assert code == 2 and "damaged" in one_error_line(err) and state.name in one_error_line(err)
    assert state.read_bytes() == before and not out.exists()
