"""Homoscedastic uncertainty weighting (Kendall, Gal, Cipolla 2018; docs/science.md §4 "Uncertainty").

With a learnable ``s_t = log σ_t²`` per task (initialised 0)::

    L = Σ_t c_t·(exp(−s_t)·L_t + s_t),    c_t = 1/2 for regression tasks, 1 otherwise

(the ½ is Kendall's Gaussian likelihood, "halve for regression": the kind's ``likelihood_factor`` in
:data:`aelab.task_kinds.TASK_KINDS`). Tasks are registered names or :class:`~aelab.tasks.Task` objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from aelab.task_kinds import kind_of
from aelab.tasks import Task
from aelab.train.balancing.base import Balancer


class UncertaintyWeighting(Balancer):
    """Learned log-variances ``log_vars`` (one ``nn.Parameter`` entry per task, in task order)."""

    name = "uncertainty"

    def __init__(self, tasks: Sequence[str | Task]):
        super().__init__(tasks)
        factors = [kind_of(t).likelihood_factor for t in self.task_specs]
        self.register_buffer("factors", torch.tensor(factors), persistent=False)
        self.log_vars = nn.Parameter(torch.zeros(self.num_tasks))

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        stacked = self.stack(losses)
        s = self.log_vars.to(stacked.dtype)
        return (self.factors.to(stacked) * (torch.exp(-s) * stacked + s)).sum()

    def weights(self) -> dict[str, float]:
        """The effective weight ``c_t·exp(−s_t)`` on each task's loss."""
        with torch.no_grad():
            return self.as_dict(self.factors * torch.exp(-self.log_vars))
