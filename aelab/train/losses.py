"""Per-task losses with a validity mask (docs/science.md §1); each kind's loss is its entry in
:data:`aelab.task_kinds.TASK_KINDS`.

==========  ================================  ====================================================
kind        logits / target                   loss (mean over the valid samples)
==========  ================================  ====================================================
multiclass  ``(B, C)`` / ``(B,)`` class index  softmax cross-entropy
binary      ``(B,)`` or ``(B, 1)`` / ``(B,)``  BCE with logits (targets cast to float)
multilabel  ``(B, T)`` / ``(B, T)`` 0/1        BCE with logits per tag, mean over tags, then samples
regression  ``(B,)`` or ``(B, 1)`` / ``(B,)``  mean squared error
==========  ================================  ====================================================

``mask`` is a bool ``(B,)`` tensor (``None``: all valid). Masked-out samples contribute nothing — their
targets may be anything, including ``-1`` or NaN placeholders for a missing label: they are replaced by a
harmless value before the loss is computed, so neither the value nor the gradient can be touched by them. A batch
with no valid sample gives a zero that is still connected to ``logits`` (``backward()`` works and gives zero
gradients). No host-device synchronisation is needed.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from aelab.task_kinds import TaskKind, kind_of
from aelab.tasks import Task, get_task


def task_loss(task: str | Task, logits: Tensor, target: Tensor, mask: Tensor | None = None,
              kind: TaskKind | None = None) -> Tensor:
    """The masked mean loss of ``task`` on a batch (see the module docstring for the shapes); the per-sample loss
    is the task kind's (:data:`aelab.task_kinds.TASK_KINDS`), or ``kind``'s when given (e.g. the aesthetic head
    trained as a regression of the mean score, :mod:`aelab.aesthetic_targets`)."""
    task = get_task(task)
    kind = kind or kind_of(task)
    logits = kind.loss_logits(task, logits)
    batch = logits.shape[0]
    if mask is None:
        mask = torch.ones(batch, dtype=torch.bool, device=logits.device)
    if mask.dtype != torch.bool or mask.shape != (batch,):
        raise ValueError(f"mask for task {task.name!r} must be a bool tensor of shape ({batch},), "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    per_sample = kind.sample_loss(task, logits, target.to(logits.device), mask.to(logits.device))
    valid = mask.sum()
    total = torch.where(mask, per_sample, torch.zeros_like(per_sample)).sum()
    return total / valid.clamp(min=1).to(total.dtype)


def model_task_losses(model, tasks: list[Task], outputs: dict[str, Tensor], targets: dict[str, Tensor],
                      masks: dict[str, Tensor], loss_kinds: Mapping[str, TaskKind] | None = None,
                      ) -> dict[str, Tensor]:
    """Each task's training loss: the weighted sum, over the model's ``loss_terms(task)`` (output key, weight),
    of :func:`task_loss` on that output — the task's own output for most models; for auxiliary classifiers
    ``L_main + w · Σ L_aux`` (paper 004). ``loss_kinds``: per task name, the kind whose loss replaces the task
    kind's (:func:`aelab.aesthetic_targets.aesthetic_loss_kinds`)."""
    losses = {}
    for task in tasks:
        target, mask = targets[task.name], masks[task.name]
        kind = (loss_kinds or {}).get(task.name)
        losses[task.name] = sum(weight * task_loss(task, outputs[key].float(), target, mask, kind)
                                for key, weight in model.loss_terms(task.name))
    return losses
