"""The step rule of activation maximisation, on ``torch.optim`` (docs/science.md §6).

Every image of a batch is a row of one parameter tensor and its loss is its own score, so an element-wise optimiser
(Adam, SGD) moves each image exactly as if it were optimised alone: batching never changes a result.

* ``"adam"`` — Kingma & Ba 2015 (Lucid's optimiser; its lr 0.05), ``torch.optim.Adam(maximize=True)``;
* ``"ascent"`` — paper 004 eq. 2, X ← X + α·∂h/∂X: ``torch.optim.SGD(maximize=True)`` without momentum.

``maximize=True`` keeps the backward pass carrying the gradient of the score being raised, the sign that Lucid's
redirected ReLU (:mod:`aelab.viz.relu_redirect`) expects. Schedules are ``torch.optim.lr_scheduler`` s stepped once
per optimisation step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from aelab.viz.render_settings import RenderSettings

Optimizer = torch.optim.Optimizer
Scheduler = torch.optim.lr_scheduler.LRScheduler

OPTIMIZERS: dict[str, Callable[[Iterable[torch.Tensor], float], Optimizer]] = {
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, maximize=True),
    "ascent": lambda params, lr: torch.optim.SGD(params, lr=lr, maximize=True),
}
"""Name → ``builder(parameters, lr)`` of an optimiser that *raises* the score."""

SCHEDULES: dict[str, Callable[[Optimizer, RenderSettings], Scheduler | None]] = {
    "constant": lambda optimizer, settings: None,
    # lr · (final + (1 − final) · (1 + cos(π t / (steps − 1))) / 2): lr at the first step, lr · final_lr at the
    # last
    "cosine": lambda optimizer, settings: torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, settings.steps - 1), eta_min=settings.resolved_lr * settings.final_lr),
}
"""Name → ``builder(optimizer, settings)`` of its learning-rate schedule (None: constant)."""


class StepRule:
    """The optimiser and schedule of one batch: :meth:`step` after each backward pass of the summed scores."""

    def __init__(self, parameters: Iterable[torch.Tensor], settings: RenderSettings):
        self.optimizer = OPTIMIZERS[settings.resolved_optimizer](parameters, settings.resolved_lr)
        self.scheduler = SCHEDULES[settings.schedule](self.optimizer, settings)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        """The learning rate the next step will use."""
        return float(self.optimizer.param_groups[0]["lr"])
