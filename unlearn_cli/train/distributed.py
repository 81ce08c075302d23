"""DistributedDataParallel when launched by torchrun; plain single-process otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA)."""
    if not launched_by_torchrun():
        return DistContext()
    world_size = int(os.environ["WORLD_SIZE"])
    if world_size == 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=int(os.environ["LOCAL_RANK"]))


def current() -> DistContext:
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistContext()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if current().enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj):
    """Rank 0's value on every rank (e.g. an error decided on rank 0)."""
    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap_model(model: torch.nn.Module, device: torch.device, *, channels_last: bool) -> torch.nn.Module:
    """`model` wrapped for DistributedDataParallel (SyncBatchNorm on CUDA).

    channels_last is applied before wrapping: DDP lays out its gradient buckets from the
    parameters' strides when it is built; changing them afterwards (as the loop would) costs a
    strided copy of every gradient per step."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
