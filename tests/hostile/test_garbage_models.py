"""Models whose weights are finite garbage (an edited or damaged file whose checksum was redone) used to paint
every image black with exit 0, in the CLI and in the app alike: every stylizer is now tried once on a test
pattern when it is opened, and one that paints it flat, saturated or NaN is refused in one line before any
output is written. Tensors stored with another dtype are refused by every reader that copies them into a model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fixtures.artefacts import artefact
from fixtures.cli import one_error_line
from fixtures.networks import adain_model, fast_model
from styleverse.errors import StyleverseError
from styleverse.io.tensorfile import read_tensors, write_tensors

Garble = Callable[[torch.Tensor], torch.Tensor]


def garble(path: Path, how: Garble) -> None:
    """Rewrite every floating tensor of ``path`` with ``how``, metadata and checksum redone."""
    tensors, meta = read_tensors(path)
    meta = {k: v for k, v in meta.items() if k != "styleverse_checksum"}
    write_tensors(path, {k: how(v) if v.is_floating_point() else v for k, v in tensors.items()}, meta)


GARBAGE: dict[str, Garble] = {"scaled up": lambda t: t * 1e4, "negated": lambda t: -t.abs() * 100}


@pytest.mark.parametrize("how", sorted(GARBAGE))
@pytest.mark.parametrize("family", ["fast", "adain"])
def test_a_model_with_garbage_weights_is_refused_before_writing(  # type: ignore[no-untyped-def]
    cli, images, tmp_path: Path, family: str, how: str
) -> None:
    model = (fast_model if family == "fast" else adain_model)(tmp_path / "m.safetensors")
    out = tmp_path / "o.png"
    args = [family, "apply", model, images["content"], "-o", out, "--size", "32", "--quiet"]
    args += ["--style", images["style_a"]] if family == "adain" else []
    assert cli(*args)[0] == 0 and out.is_file()  # as trained (here: as made) it works
    out.unlink()
    garble(model, GARBAGE[how])
    code, _, err = cli(*args)
    line = one_error_line(err)
    assert code == 2 and "paints a test pattern" in line and model.name in line, err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["classifier checkpoint"])
def test_a_checkpoint_tensor_of_another_dtype_is_refused(kind: str, tmp_path: Path) -> None:
    """The classifier's (and a backbone file's) loader copied an int32 tensor into float weights silently."""
    made = artefact(kind, tmp_path)
    tensors, meta = read_tensors(made.path)
    name = sorted(k for k, t in tensors.items() if t.is_floating_point() and t.dim() > 1)[0]
    tensors[name] = tensors[name].to(torch.int32)
    write_tensors(made.path, tensors, {k: v for k, v in meta.items() if k != "styleverse_checksum"})
    with pytest.raises(StyleverseError, match="int32") as e:
        made.read()
    assert "\n" not in str(e.value)
