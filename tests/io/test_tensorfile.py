"""The one .safetensors writer and reader: checksum round trip for every dtype, deduplicated resume states,
sizes for messages. (Damaged files, full disks and interrupted writes: tests/hostile.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from styleverse.io.tensorfile import ALIASES_KEY, CHECKSUM_KEY, human_size, read_tensors, write_tensors


def _odd_tensors() -> dict[str, torch.Tensor]:
    return {
        "bf16": torch.rand(3, 5).to(torch.bfloat16),
        "bool": torch.rand(7) > 0.5,
        "scalar": torch.tensor(2.5, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
        "strided": torch.arange(12, dtype=torch.int64).view(3, 4).t(),
        "rng": torch.get_rng_state(),
    }


def test_every_dtype_round_trips_with_a_checksum(tmp_path: Path) -> None:
    src = _odd_tensors()
    size = write_tensors(tmp_path / "a.safetensors", src, {"note": "x"})
    assert size == (tmp_path / "a.safetensors").stat().st_size
    tensors, meta = read_tensors(tmp_path / "a.safetensors")
    assert meta["note"] == "x" and meta[CHECKSUM_KEY].startswith("sha256:")
    assert set(tensors) == set(src) and all(torch.equal(tensors[k], src[k]) for k in src)


def test_equal_tensors_of_a_resume_state_are_stored_once_and_read_back_apart(tmp_path: Path) -> None:
    x = torch.rand(64, 64)
    src = {"x_prev": x, "best": x.clone(), "other": torch.rand(64, 64), "t": x.t().contiguous()}
    write_tensors(tmp_path / "d.safetensors", src, {}, dedupe=True)
    write_tensors(tmp_path / "f.safetensors", src, {})
    with safe_open(str(tmp_path / "d.safetensors"), framework="pt") as f:
        assert sorted(f.keys()) == ["best", "other", "t"]  # x_prev is best's alias
        assert json.loads(f.metadata()[ALIASES_KEY]) == {"x_prev": "best"}
    assert (tmp_path / "d.safetensors").stat().st_size < (tmp_path / "f.safetensors").stat().st_size - 16000
    tensors, meta = read_tensors(tmp_path / "d.safetensors")
    assert ALIASES_KEY not in meta and all(torch.equal(tensors[k], src[k]) for k in src)
    assert tensors["x_prev"].data_ptr() != tensors["best"].data_ptr()  # a copy of its own: no shared storage


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (999, "999 B"), (12_345, "12 kB"), (1_500_000, "1.5 MB"), (330_337_496, "330 MB")]
)
def test_sizes_read_as_people_say_them(n: int, text: str) -> None:
    assert human_size(n) == text
