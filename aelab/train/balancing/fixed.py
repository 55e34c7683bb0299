"""Fixed task weights: ``L = Σ_t w_t·L_t`` (docs/science.md §1 "joint loss", §4 "Fixed")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from aelab.tasks import Task
from aelab.train.balancing.base import Balancer

EMOTION_LAMBDA = 0.25
"""λ of the patent and AENet: ``L = La + λ·Le`` with λ = 1/4."""


def default_weights(tasks: Sequence[str]) -> dict[str, float]:
    """Weight 1 for every task, except ``emotion`` gets λ = 1/4 when it is trained jointly with another task.

    (choice) With emotion as the only task the weight is 1: λ sets the trade-off between tasks, and alone it
    would only scale the learning rate.
    """
    return {t: (EMOTION_LAMBDA if t == "emotion" and len(tasks) > 1 else 1.0) for t in tasks}


class FixedWeights(Balancer):
    """Constant weights. ``weights`` overrides the defaults (:func:`default_weights`) for the tasks it names."""

    name = "fixed"

    def __init__(self, tasks: Sequence[str | Task], weights: Mapping[str, float] | None = None):
        super().__init__(tasks)
        chosen = default_weights(self.tasks)
        for task, value in (weights or {}).items():
            if task not in chosen:
                raise ValueError(f"weights names task {task!r}, which is not among the tasks {list(self.tasks)}")
            if not float(value) >= 0:
                raise ValueError(f"weight of task {task!r} must be a number >= 0, got {value!r}")
            chosen[task] = float(value)
        # from the configuration, not from a checkpoint: not persistent
        self.register_buffer("fixed", torch.tensor([chosen[t] for t in self.tasks]), persistent=False)

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        stacked = self.stack(losses)
        return (self.fixed.to(stacked) * stacked).sum()

    def weights(self) -> dict[str, float]:
        return self.as_dict(self.fixed)
