"""The artefact file format shared by banks, fast models and AdaIN decoders: round trip and every bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from styleverse.errors import InputError
from styleverse.io.artifacts import ArtifactKind, read_artifact, write_artifact

THING = ArtifactKind("thing", "thing", "thing file", "a styleverse thing", "make one with `styleverse thing`", 2)


def test_round_trip_keeps_tensors_and_document(tmp_path: Path) -> None:
    t = {"w": torch.arange(6, dtype=torch.float32).view(2, 3).t(), "n": torch.tensor(3.5, dtype=torch.float64)}
    path = write_artifact(tmp_path / "a.safetensors", THING, t, {"format": 2, "names": ["x", "y"]})
    tensors, doc = read_artifact(path, THING)
    assert doc == {"format": 2, "names": ["x", "y"]}
    assert torch.equal(tensors["w"], t["w"]) and tensors["n"].dtype == torch.float64
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]  # no temporary file left


def _with_meta(path: Path, meta: dict[str, str]) -> Path:
    save_file({"w": torch.zeros(2)}, str(path), metadata=meta)
    return path


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p, "no such thing file"),
        (lambda p: (p.write_bytes(b"junk" * 10), p)[1], "not a readable thing file"),
        (lambda p: _with_meta(p, {}), "not a styleverse thing (it is not a styleverse file)"),
        (lambda p: _with_meta(p, {"styleverse_kind": "style_bank"}), "not a styleverse thing (it is style_bank)"),
        (lambda p: _with_meta(p, {"styleverse_kind": "thing"}), "thing file metadata is damaged"),
        (lambda p: _with_meta(p, {"styleverse_kind": "thing", "thing": "{oops"}), "metadata is damaged"),
        (lambda p: _with_meta(p, {"styleverse_kind": "thing", "thing": "[1]"}), "metadata is damaged"),
        (lambda p: _with_meta(p, {"styleverse_kind": "thing", "thing": json.dumps({"format": 3})}), "is newer"),
    ],
)
def test_every_bad_file_gets_one_line_naming_it(tmp_path: Path, make, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / "x.safetensors")
    with pytest.raises(InputError) as e:
        read_artifact(path, THING)
    assert needle in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_file_cut_short_is_not_readable(tmp_path: Path) -> None:
    path = write_artifact(tmp_path / "a.safetensors", THING, {"w": torch.rand(64, 64)}, {"format": 1})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="not a readable thing file"):
        read_artifact(path, THING)
