"""Learning-rate schedules by name: each entry builds a torch scheduler and says whether it steps per batch or
per epoch. A new schedule is one entry in :data:`SCHEDULES`.

``onecycle`` is Smith & Topin's one-cycle policy (torch's ``OneCycleLR``): a short warm-up from lr/25 to the
configured lr over the first :data:`ONECYCLE_WARMUP` of all steps, then a cosine descent to lr/10⁴ at the very last
batch (and, for Adam, β₁ cycled between 0.95 and 0.85 the other way). On SynthAE a per-step warm-up and a
descent that reaches zero with the last batch learned more per image seen than a per-epoch cosine that starts at
the full rate (docs/reference_model.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch.optim.lr_scheduler import LRScheduler

ONECYCLE_WARMUP: float = 0.05
"""Share of all training steps spent warming up under ``onecycle``."""


@dataclass(frozen=True)
class Schedule:
    """``build(optimizer, epochs, steps_per_epoch, base_lrs)`` makes the scheduler; ``per_step``: stepped after every
    optimizer step (else after every epoch)."""

    build: Callable[[torch.optim.Optimizer, int, int, list[float]], LRScheduler]
    per_step: bool = False


def _one_cycle(optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int,
               base_lrs: list[float]) -> LRScheduler:
    # one step more than the batches: the step after the last batch lands on the descent's end (lr/10⁴) instead
    # of past it, so the rate a run records at its end is the schedule's last one
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=base_lrs, total_steps=epochs * steps_per_epoch + 1,
                                               pct_start=ONECYCLE_WARMUP)


SCHEDULES: dict[str, Schedule] = {
    "cosine": Schedule(lambda opt, epochs, steps, lrs: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)),
    "step": Schedule(lambda opt, epochs, steps, lrs: torch.optim.lr_scheduler.StepLR(
        opt, step_size=max(1, epochs // 3), gamma=0.1)),
    "none": Schedule(lambda opt, epochs, steps, lrs: torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0)),
    "onecycle": Schedule(_one_cycle, per_step=True),
}


def build_schedule(name: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int,
                   base_lrs: list[float], epochs_done: int = 0) -> LRScheduler:
    """The schedule ``name`` for a run of ``epochs`` epochs, each group starting from its ``base_lrs`` entry, and
    advanced past ``epochs_done`` finished epochs: the learning rate an uninterrupted run would have there."""
    for group, lr in zip(optimizer.param_groups, base_lrs):
        group["lr"] = lr
        group.pop("initial_lr", None)
    schedule = SCHEDULES[name]
    scheduler = schedule.build(optimizer, epochs, steps_per_epoch, base_lrs)
    advance = epochs_done * (steps_per_epoch if schedule.per_step else 1)
    with warnings.catch_warnings():  # stepping without optimizer steps is the point here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(advance):
            scheduler.step()
    return scheduler
