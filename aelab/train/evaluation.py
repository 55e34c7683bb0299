"""Evaluate a model on one split: mean loss per task, metrics per task (docs/science.md §1), confusion matrices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader

from aelab.models.inputs import call_model
from aelab.task_kinds import kind_of
from aelab.tasks import Task
from aelab.train.losses import task_loss
from aelab.train.metrics import compute_metrics
from aelab.train.metrics import confusion as confusion_matrix

@dataclass
class SplitResult:
    loss: float
    losses: dict[str, float]
    metrics: dict[str, dict[str, float]]
    score: float
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)


def primary_score(tasks: Sequence[Task], metrics: dict[str, dict[str, float]]) -> float:
    """Mean of each task's primary metric (its kind's ``primary_metric``: accuracy, SRCC or mAP); NaNs are
    skipped."""
    values = [metrics[t.name].get(kind_of(t).primary_metric, math.nan) for t in tasks]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else -math.inf


@torch.no_grad()
def predict_split(model: nn.Module, loader: DataLoader, tasks: Sequence[Task], device: torch.device):
    """Concatenated logits, targets and masks per task over a loader."""
    was_training = model.training
    model.eval()
    logits: dict[str, list[torch.Tensor]] = {t.name: [] for t in tasks}
    targets: dict[str, list[torch.Tensor]] = {t.name: [] for t in tasks}
    masks: dict[str, list[torch.Tensor]] = {t.name: [] for t in tasks}
    for batch in loader:
        outputs = call_model(model, batch, device)
        for task in tasks:
            logits[task.name].append(outputs[task.name].float().cpu())
            targets[task.name].append(batch["targets"][task.name])
            masks[task.name].append(batch["mask"][task.name])
    model.train(was_training)
    cat = lambda parts: {name: torch.cat(values) for name, values in parts.items()}  # noqa: E731
    return cat(logits), cat(targets), cat(masks)


def evaluate(model: nn.Module, loader: DataLoader, tasks: Sequence[Task], device: torch.device,
             confusion: bool = False) -> SplitResult:
    """Loss, metrics and (with ``confusion``) confusion matrices of ``model`` on the batches of ``loader``."""
    logits, targets, masks = predict_split(model, loader, tasks, device)
    losses = {t.name: float(task_loss(t, logits[t.name], targets[t.name], masks[t.name])) for t in tasks}
    metrics = {t.name: compute_metrics(t, logits[t.name], targets[t.name], masks[t.name]) for t in tasks}
    matrices = {}
    if confusion:
        matrices = {t.name: confusion_matrix(t, logits[t.name], targets[t.name], masks[t.name]).tolist()
                    for t in tasks if kind_of(t).exclusive}
    return SplitResult(sum(losses.values()), losses, metrics, primary_score(tasks, metrics), matrices)

