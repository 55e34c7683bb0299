"""Multi-process training with PyTorch DDP under ``torchrun``, and the batch sampler shared by 1 and N processes.

The sampler cuts each *global* batch of a seeded permutation into one slice per process, so N processes
see exactly the images one process would see in each step, and DDP's gradient averaging reproduces the
single-process gradient (up to BatchNorm statistics, which are per process).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass(frozen=True)
class Context:
    """Where this process runs: its rank among ``world_size`` processes and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: this process's CUDA device when there is one, else the CPU."""
    if preference == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(preference)


def init_context(preference: str = "auto") -> Context:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); gloo on CPU, NCCL on GPUs."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Context(0, 1, pick_device(preference))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(preference, local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return Context(dist.get_rank(), world_size, device)


def local_world_size() -> int:
    """How many training processes ``torchrun`` started on this machine (1 without torchrun)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def close_context(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


class GlobalBatchSampler(Sampler[list[int]]):
    """Batches of a permutation seeded by ``(seed, epoch)``; process ``rank`` gets ``batch[rank::world_size]``.

    A last batch too small to give every process at least ``min_per_process`` items (BatchNorm needs 2 in
    training) is dropped. ``max_batches`` caps the batches per epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1, min_per_process: int = 1, max_batches: int | None = None):
        if batch_size < world_size:
            raise ValueError(f"batch_size {batch_size} is smaller than the {world_size} processes")
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.min_per_process, self.max_batches = min_per_process, max_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _global_batches(self) -> list[torch.Tensor]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        batches = list(order.split(self.batch_size))
        if batches and len(batches[-1]) < self.min_per_process * self.world_size:
            batches.pop()
        return batches[: self.max_batches] if self.max_batches else batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._global_batches():
            yield batch[self.rank::self.world_size].tolist()

    def __len__(self) -> int:
        return len(self._global_batches())


def all_reduce_mean(value: float, context: Context) -> float:
    """Mean of a Python number over all processes (identity with one process)."""
    if not context.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item() / context.world_size)


def average_gradients(parameters, context: Context) -> None:
    """Average ``.grad`` of parameters DDP does not manage (a balancer's learnable weights) over processes."""
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= context.world_size
