"""The balancer contract (docs/science.md §9 "Balancer"; docs/science.md §4).

A balancer turns the per-task losses of a batch into the one loss the trainer back-propagates. The trainer
calls, in this order::

    balancer.attach(model)                  # once, after the model is built
    for each epoch:
        for each batch:
            loss = balancer(losses)         # losses: {task name: scalar tensor}
            loss.backward(); optimizer.step()
            balancer.after_step()
        balancer.epoch_end(mean_losses)     # {task name: the epoch's mean training loss}

Learnable state is ``nn.Parameter``s of the balancer (the trainer adds ``balancer.parameters()`` to the
optimiser); all other state lives in buffers so that ``state_dict()`` / ``load_state_dict()`` resume a run
exactly (and a checkpoint loads with ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from aelab.tasks import Task


class Balancer(nn.Module):
    """Base class: stores the task names and checks the losses dict; subclasses implement :meth:`forward`.

    ``tasks`` are task names (or :class:`~aelab.tasks.Task` objects, whose names are used); any number of
    tasks, at least one. Subclasses take their options as keyword arguments.
    """

    name: ClassVar[str] = ""

    def __init__(self, tasks: Sequence[str | Task]):
        super().__init__()
        if isinstance(tasks, (str, Task)):
            tasks = [tasks]
        self.task_specs: tuple[str | Task, ...] = tuple(tasks)
        self.tasks: tuple[str, ...] = tuple(t.name if isinstance(t, Task) else str(t) for t in self.task_specs)
        if not self.tasks:
            raise ValueError(f"balancer {self.name!r} needs at least one task, got none")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"balancer {self.name!r}: task names must be unique, got {list(self.tasks)}")

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    # -- the contract -------------------------------------------------------------------------------------
    def attach(self, model: nn.Module) -> None:
        """Called once after the model is built. Default: nothing."""

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after ``optimizer.step()``. Default: nothing."""

    def epoch_end(self, mean_losses: Mapping[str, float]) -> None:
        """Called with the epoch's mean training loss per task. Default: nothing."""

    def weights(self) -> dict[str, float]:  # pragma: no cover - abstract
        """Current weight of each task's loss, for logging."""
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------------------------
    def stack(self, losses: Mapping[str, Tensor]) -> Tensor:
        """The losses as one ``(K,)`` tensor in task order; missing or extra keys are an error."""
        got = set(losses)
        if got != set(self.tasks):
            missing = [t for t in self.tasks if t not in got]
            extra = sorted(got - set(self.tasks))
            raise ValueError(
                f"balancer {self.name!r} was built for tasks {list(self.tasks)} but received losses for "
                f"{sorted(got)} (missing: {missing}, unexpected: {extra})"
            )
        values = []
        for t in self.tasks:
            value = losses[t]
            if not isinstance(value, Tensor) or value.numel() != 1:
                raise ValueError(f"loss of task {t!r} must be a scalar tensor, got {value!r}")
            values.append(value.reshape(()))
        return torch.stack(values)

    def epoch_values(self, mean_losses: Mapping[str, float]) -> list[float]:
        """Each task's mean loss in task order; keys other than the tasks (e.g. ``"total"``) are ignored."""
        missing = [t for t in self.tasks if t not in mean_losses]
        if missing:
            raise ValueError(
                f"balancer {self.name!r}: epoch_end needs a mean loss for every task {list(self.tasks)}; "
                f"missing {missing} (got {sorted(mean_losses)})"
            )
        return [float(mean_losses[t]) for t in self.tasks]

    def as_dict(self, values: Tensor | Sequence[float]) -> dict[str, float]:
        values = values.detach().cpu().tolist() if isinstance(values, Tensor) else list(values)
        return {t: float(v) for t, v in zip(self.tasks, values)}

    def extra_repr(self) -> str:
        return f"tasks={list(self.tasks)}"
