"""Distributed setup for torchrun (or one plain process) and the collectives the trainer uses.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE for every process it starts. Each process
takes one device (GPU `LOCAL_RANK` when there are GPUs, else the CPU) and joins the
process group: NCCL on GPUs, gloo on the CPU. A plain `python -m trainer.train` is a
world of one and never touches torch.distributed.
"""

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

TIMEOUT = timedelta(minutes=30)
"""How long a collective waits for the other ranks before failing (instead of hanging)."""


@dataclass
class Context:
    """Where this process runs: its rank, the world, its device and the extra process group."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    peak_group: object = None
    """A second group for the synthesiser's peak, so its collectives never interleave with DDP's."""

    @property
    def main(self) -> bool:
        """True on rank 0, the only rank that logs, validates media and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Context:
    """Read torchrun's environment, pick this rank's device and join the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise ValueError("train.device is cuda, but no CUDA device is available")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                               "start at most one process per GPU")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    ctx = Context(rank, local_rank, world, dev)
    if world > 1:
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT, device_id=dev if use_cuda else None)
        ctx.peak_group = dist.new_group(backend=backend)
    return ctx


def teardown() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def all_sum(ctx: Context, values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over the ranks (returns the input on a world of one)."""
    if ctx.distributed:
        values = values.to(ctx.device)
        dist.all_reduce(values)
    return values


def all_gather_objects(ctx: Context, obj) -> list:
    """Every rank's `obj`, in rank order."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


class _GlobalMax(torch.autograd.Function):
    """max over the ranks of each rank's scalar, differentiable.

    Backward: the loss of every rank depends on the global max, so the gradients of all
    ranks are summed and handed to the rank(s) holding the max (split evenly on ties, as
    `amax` does), which is the gradient one process would get on the whole batch.
    """

    @staticmethod
    def forward(ctx, local: torch.Tensor, group) -> torch.Tensor:
        value = local.detach().float().clone()
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=group)
        ctx.group = group
        ctx.save_for_backward((local.detach().float() == value).float())
        return value.to(local.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (owner,) = ctx.saved_tensors
        packed = torch.stack([grad.float().reshape(()), owner.reshape(())])
        dist.all_reduce(packed, group=ctx.group)  # [sum of every rank's gradient, number of owners]
        return (packed[0] * owner / packed[1]).to(grad.dtype), None


def synced_peak(ctx: Context):
    """The synthesiser's normaliser over the batches of every rank (see `idm.synth.batch_peak`):
    DDP then normalises exactly like one process holding the whole global batch."""
    def peak(x: torch.Tensor) -> torch.Tensor:
        local = x.abs().amax()
        return _GlobalMax.apply(local, ctx.peak_group) if ctx.distributed else local
    return peak


def rank_seed(seed: int, rank: int) -> int:
    """A seed of its own for each rank's global generators (dropout masks), derived from the run's seed."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] >> 1)


def sync_batch_norm(model: torch.nn.Module, ctx: Context):
    """Under DDP on GPUs, BatchNorm layers become SyncBatchNorm: statistics over the whole global
    batch, as one process would compute them. Returns (model, a note saying what differs, or None):
    SyncBatchNorm needs GPUs, so gloo ranks on the CPU normalise over their own crops."""
    if not ctx.distributed or not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model, None
    if ctx.device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model), None
    return model, (f"note: BatchNorm statistics are per rank on the CPU (SyncBatchNorm needs GPUs): each of the "
                   f"{ctx.world_size} ranks normalises over its own share of the batch")
