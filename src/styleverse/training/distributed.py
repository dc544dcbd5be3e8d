"""Multi-process training helpers (DistributedDataParallel under ``torchrun``).

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; :func:`setup_distributed` joins the process group
(NCCL on CUDA with one GPU per LOCAL_RANK, gloo on CPU). With WORLD_SIZE unset or 1 everything here
is a no-op, so single-process code paths stay the same.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from styleverse.devices import resolve_device


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> tuple[DistContext, torch.device]:
    """Read RANK/WORLD_SIZE/LOCAL_RANK (set by ``torchrun``) and join the process group if there are
    several processes: NCCL on CUDA (one GPU per LOCAL_RANK), gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if world <= 1:
        return DistContext(), dev
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistContext(rank, world, local, owns), dev


def teardown_distributed(ctx: DistContext) -> None:
    """Leave the process group if :func:`setup_distributed` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[tuple[DistContext, torch.device]]:
    """:func:`setup_distributed` for the block, and :func:`teardown_distributed` however it ends."""
    ctx, dev = setup_distributed(device)
    try:
        yield ctx, dev
    finally:
        teardown_distributed(ctx)


def all_sum(values: list[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all processes (identity for one process)."""
    if ctx.world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order, on every process."""
    if ctx.world_size == 1:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
