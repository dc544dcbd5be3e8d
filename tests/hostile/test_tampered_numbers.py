"""Artefacts edited with their checksum redone: a tensor stored as integers, or holding NaN or infinity, is
refused in one line instead of being used as numbers (a bank full of inf, a model that paints black)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fixtures.artefacts import artefact
from styleverse.errors import InputError
from styleverse.io.tensorfile import read_tensors, write_tensors

KINDS = ("style bank", "fast model", "AdaIN decoder")


def _rewrite(path: Path, change: str) -> None:
    """Rewrite ``path`` with its first tensor changed, metadata and checksum redone as a careful editor would."""
    tensors, meta = read_tensors(path)
    name = sorted(tensors)[0]
    t = tensors[name]
    tensors[name] = t.to(torch.int32) if change == "int32" else t.clone().fill_(float(change))
    meta = {k: v for k, v in meta.items() if k != "styleverse_checksum"}
    write_tensors(path, tensors, meta)


@pytest.mark.parametrize("change", ["int32", "nan", "inf"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_artefact_with_a_tensor_that_is_not_finite_numbers_is_refused(
    kind: str, change: str, tmp_path: Path
) -> None:
    made = artefact(kind, tmp_path)
    made.read()  # as written it loads
    _rewrite(made.path, change)
    before = made.path.read_bytes()
    with pytest.raises(InputError, match="int32, not the numbers" if change == "int32" else "NaN or infinite") as e:
        made.read()
    assert "\n" not in str(e.value) and made.path.read_bytes() == before
