"""gan train under torchrun with two CPU processes (gloo): the ranks agree and match one process whose batch is
the global batch, within float tolerance (both networks, every loss term, every gate decision)."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from fixtures.distributed import torchrun
from fixtures.gan import make_data, tiny
from styleverse.fast.gan.model import Generator, load_gan
from styleverse.fast.gan.train import train_gan

WORKER = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from safetensors.torch import save_file
    from styleverse.fast.gan.train import GanTrainConfig, train_gan

    torch.set_num_threads(1)
    raw = json.loads(sys.argv[1])
    cfg = GanTrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    events = []
    result = train_gan(cfg, callback=lambda ev: events.append(type(ev).__name__))
    out = os.path.join(sys.argv[2], "rank" + os.environ["RANK"])
    save_file({k: v.contiguous() for k, v in result.model.net.state_dict().items()}, out + ".safetensors")
    with open(out + ".json", "w") as f:
        json.dump({"events": events, "history": result.history}, f)
    """
)
TOLERANCE = 1e-4  # relative, on every logged loss of 4 steps; gate decisions equal, running success within 1e-6


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_global_batch(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    root = make_data(tmp_path, photos=5)
    cfg = tiny(root, steps=4, batch_size=1, win_rate=0.5, output=str(tmp_path / "ddp.safetensors"))
    proc = torchrun(WORKER, tmp_path, json.dumps(asdict(cfg)), str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]

    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0]), "ranks differ"
    assert info[0]["events"] and not info[1]["events"], "only rank 0 reports progress"
    written = load_gan(tmp_path / "ddp.safetensors").net.state_dict()
    assert all(torch.equal(written[k], ranks[0][k]) for k in written)

    torch.set_num_threads(1)
    train_gan(replace(cfg, steps=1, lr=1e-12, output=str(tmp_path / "start.safetensors")))  # the initial weights
    single = train_gan(replace(cfg, batch_size=2, output=str(tmp_path / "single.safetensors")))
    for a, b in zip(info[0]["history"], single.history, strict=True):
        assert a["g_turn"] == b["g_turn"] and a["success"] == pytest.approx(b["success"], abs=1e-6)
        for k in ("total", "style", "content", "transformed", "discriminator"):
            assert abs(a[k] - b[k]) <= TOLERANCE * abs(b[k]), (k, a, b)
    # The outputs agree less closely than the losses: parameters whose gradient is only rounding noise (a
    # β that the next instance norm cancels) take full-size Adam steps in either process's own direction.
    ddp, fresh = Generator(single.model.net.spec), Generator(single.model.net.spec)
    ddp.load_state_dict(ranks[0])
    fresh.load_state_dict(load_gan(tmp_path / "start.safetensors").net.state_dict())
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for w in torch.eye(2):
            y_ddp, y_one, y_fresh = ddp.eval()(x, w), single.model.net(x, w), fresh.eval()(x, w)
            apart, moved = float((y_ddp - y_one).abs().mean()), float((y_one - y_fresh).abs().mean())
            assert apart < 0.25 * moved, (apart, moved)  # measured: 0.13
