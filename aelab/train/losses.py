"""Per-task losses with a validity mask (METHODS.md §1).

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

import torch
import torch.nn.functional as F
from torch import Tensor

from aelab.tasks import Task, get_task


def task_loss(task: str | Task, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """The masked mean loss of ``task`` on a batch (see the module docstring for the shapes)."""
    task = get_task(task)
    if task.kind == "text":
        raise ValueError(f"task {task.name!r} is a text task; it has no loss in aelab.train.task_loss")
    logits = _squeeze_single(task, logits)
    batch = logits.shape[0]
    if mask is None:
        mask = torch.ones(batch, dtype=torch.bool, device=logits.device)
    if mask.dtype != torch.bool or mask.shape != (batch,):
        raise ValueError(f"mask for task {task.name!r} must be a bool tensor of shape ({batch},), "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    target = target.to(logits.device)
    mask = mask.to(logits.device)

    if task.kind == "multiclass":
        _check_shape(task, logits, (batch, task.num_outputs), "logits")
        _check_shape(task, target, (batch,), "target")
        safe = torch.where(mask, target.long(), torch.zeros_like(target, dtype=torch.long))
        per_sample = F.cross_entropy(logits, safe, reduction="none")
    elif task.kind == "multilabel":
        _check_shape(task, logits, (batch, task.num_outputs), "logits")
        _check_shape(task, target, (batch, task.num_outputs), "target")
        safe = torch.where(mask[:, None], target.to(logits.dtype), torch.zeros((), dtype=logits.dtype,
                                                                               device=logits.device))
        per_sample = F.binary_cross_entropy_with_logits(logits, safe, reduction="none").mean(dim=1)
    else:  # binary, regression
        _check_shape(task, target.reshape(-1) if target.dim() == 2 and target.shape[1] == 1 else target,
                     (batch,), "target")
        target = target.reshape(batch).to(logits.dtype)
        safe = torch.where(mask, target, torch.zeros_like(target))
        if task.kind == "binary":
            per_sample = F.binary_cross_entropy_with_logits(logits, safe, reduction="none")
        else:
            per_sample = (logits - safe).pow(2)

    valid = mask.sum()
    total = torch.where(mask, per_sample, torch.zeros_like(per_sample)).sum()
    return total / valid.clamp(min=1).to(total.dtype)


def model_task_losses(model, tasks: list[Task], outputs: dict[str, Tensor], targets: dict[str, Tensor],
                      masks: dict[str, Tensor]) -> dict[str, Tensor]:
    """Each task's training loss: the weighted sum, over the model's ``loss_terms(task)`` (output key, weight),
    of :func:`task_loss` on that output — the task's own output for most models; for auxiliary classifiers
    ``L_main + w · Σ L_aux`` (paper 004)."""
    losses = {}
    for task in tasks:
        target, mask = targets[task.name], masks[task.name]
        losses[task.name] = sum(weight * task_loss(task, outputs[key].float(), target, mask)
                                for key, weight in model.loss_terms(task.name))
    return losses


def _squeeze_single(task: Task, logits: Tensor) -> Tensor:
    """Accept ``(B, 1)`` as well as ``(B,)`` for the one-output kinds."""
    if task.kind in ("binary", "regression"):
        if logits.dim() == 2 and logits.shape[1] == 1:
            return logits[:, 0]
        if logits.dim() != 1:
            raise ValueError(f"logits for {task.kind} task {task.name!r} must have shape (B,) or (B, 1), "
                             f"got {tuple(logits.shape)}")
    elif logits.dim() != 2:
        raise ValueError(f"logits for {task.kind} task {task.name!r} must have shape (B, {task.num_outputs}), "
                         f"got {tuple(logits.shape)}")
    return logits


def _check_shape(task: Task, tensor: Tensor, expected: tuple[int, ...], what: str) -> None:
    if tuple(tensor.shape) != expected:
        raise ValueError(f"{what} for {task.kind} task {task.name!r} must have shape {expected}, "
                         f"got {tuple(tensor.shape)}")
