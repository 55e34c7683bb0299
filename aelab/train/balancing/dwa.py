"""Dynamic Weight Average (Liu, Johns, Davison 2019; docs/science.md §4 "DWA").

For epoch k (1-based)::

    w_t(k) = K·exp(r_t(k−1)/T) / Σ_i exp(r_i(k−1)/T),    r_t(k−1) = L_t(k−1) / L_t(k−2)

with T = 2 and K the number of tasks; ``w = 1`` for the first two epochs. ``L_t(k)`` is the epoch's mean
training loss, given by :meth:`epoch_end`. A task whose ``L_t(k−2)`` is 0 gets ``r_t = 1`` (choice: the
formula is undefined there). The last two epoch means and the epoch count are buffers, so they are saved
with ``state_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from aelab.tasks import Task
from aelab.train.balancing.base import Balancer


class DynamicWeightAverage(Balancer):
    """DWA; ``temperature`` is T."""

    name = "dwa"

    def __init__(self, tasks: Sequence[str | Task], temperature: float = 2.0):
        super().__init__(tasks)
        if not float(temperature) > 0:
            raise ValueError(f"dwa temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        # history[0] = L(k−1), history[1] = L(k−2); epochs = how many epoch_end calls so far
        self.register_buffer("history", torch.zeros(2, self.num_tasks))
        self.register_buffer("epochs", torch.zeros((), dtype=torch.long))
        self.register_buffer("current", torch.ones(self.num_tasks))

    def epoch_end(self, mean_losses: Mapping[str, float]) -> None:
        values = torch.tensor(self.epoch_values(mean_losses), dtype=self.history.dtype,
                              device=self.history.device)
        self.history[1] = self.history[0]
        self.history[0] = values
        self.epochs += 1
        if int(self.epochs) >= 2:
            previous, before = self.history[0], self.history[1]
            ratio = torch.where(before > 0, previous / before.clamp_min(torch.finfo(before.dtype).tiny),
                                torch.ones_like(previous))
            self.current.copy_(self.num_tasks * torch.softmax(ratio / self.temperature, dim=0))

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        stacked = self.stack(losses)
        return (self.current.to(stacked) * stacked).sum()

    def weights(self) -> dict[str, float]:
        return self.as_dict(self.current)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.temperature}"
