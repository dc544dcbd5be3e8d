"""The artefact file format shared by banks, fast models and AdaIN decoders: round trip and every bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from styleverse.errors import InputError
from styleverse.io.artifacts import ArtifactKind, read_artifact, read_network, write_artifact, write_network

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


def test_a_network_round_trips_in_eval_mode_and_weights_that_do_not_fit_its_document_are_damaged(
    tmp_path: Path,
) -> None:
    def build(doc: dict) -> torch.nn.Module:  # type: ignore[type-arg]
        return torch.nn.Sequential(torch.nn.Linear(doc["width"], 2), torch.nn.Dropout(0.5))

    net = build({"width": 3}).train()
    path = write_network(tmp_path / "n.safetensors", THING, net.double(), {"format": 2, "width": 3})
    back, doc = read_network(path, THING, build)
    assert doc["width"] == 3 and not back.training and not any(p.requires_grad for p in back.parameters())
    assert torch.equal(back[0].weight, net[0].weight.float())  # written in float32
    wrong = write_network(tmp_path / "w.safetensors", THING, net, {"format": 2, "width": 4})
    with pytest.raises(InputError, match=r"w\.safetensors: thing file is damaged \(RuntimeError: .*make one with") as e:
        read_network(wrong, THING, build)
    assert "\n" not in str(e.value)  # one line
