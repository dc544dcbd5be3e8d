"""Many processes under ``torchrun``: training (DistributedDataParallel) and jobs whose work is dealt out
(video shots, bank images, photos to stylise).

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; :func:`setup_distributed` joins the process group
(NCCL on CUDA with one GPU per LOCAL_RANK, gloo on CPU). With WORLD_SIZE unset or 1 everything here
is a no-op, so single-process code paths stay the same.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from styleverse.devices import resolve_device
from styleverse.errors import StyleverseError

T = TypeVar("T")


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


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` (picklable) on every process (``obj`` itself for one process)."""
    if ctx.world_size == 1:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(fn: Callable[[], T], ctx: DistContext) -> T:
    """``fn()`` run by rank 0 alone, its result handed to every process. A :class:`StyleverseError` it
    raises is raised on rank 0 and its message on every other process, so each exits with the same one
    line (a refused output, a lock held by another launch) instead of waiting for a rank that gave up."""
    result: Any = None
    error: StyleverseError | None = None
    if ctx.is_main:
        try:
            result = fn()
        except StyleverseError as e:
            error = e
    if ctx.world_size > 1:
        result, message = broadcast_object((result, None if error is None else str(error)), ctx)
        if message is not None and error is None:
            error = StyleverseError(message)
    if error is not None:
        raise error
    return result


def deal(weights: Sequence[float], world_size: int) -> list[list[int]]:
    """Indices of ``weights`` dealt to ``world_size`` processes so their totals are close: heaviest first,
    each to the process with the least so far (ties: the lower rank). Every process computes the same deal
    from the same weights; each list is in ascending index order."""
    loads, hands = [0.0] * world_size, [[] for _ in range(world_size)]  # type: list[float], list[list[int]]
    for i in sorted(range(len(weights)), key=lambda k: (-weights[k], k)):
        r = min(range(world_size), key=lambda p: (loads[p], p))
        loads[r] += weights[i]
        hands[r].append(i)
    return [sorted(h) for h in hands]
