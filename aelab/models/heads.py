"""Task heads: global average pool → dropout → linear, one per task (docs/science.md §1, §3).

The logits' shape follows the task's kind (:data:`aelab.task_kinds.TASK_KINDS`): ``binary`` → ``(B,)`` (one
logit for BCE-with-logits), ``regression`` → ``(B,)``, ``multiclass`` → ``(B, C)``, ``multilabel`` → ``(B, 14)``
for AVA styles.
With VGG16 the patent (CN109978074A) keeps the pretrained fc6/fc7 in each branch before the task's last FC:
pass them as ``features`` (the backbone's ``classifier_layers``, 4096 features) instead of the pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from aelab.task_kinds import kind_of, num_outputs, predicted_kinds
from aelab.tasks import Task


class Head(nn.Module):
    """``features(x)`` (default: global average pool + flatten) → dropout → ``Linear(in_features, outputs)``."""

    def __init__(self, task: Task, in_features: int, dropout: float = 0.0, features: nn.Module | None = None):
        super().__init__()
        kind = kind_of(task)
        if not kind.predicted:
            raise ValueError(f"task {task.name!r} of kind {task.kind!r} has no CNN head; "
                             f"expected a task of kind {', '.join(predicted_kinds())}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.task, self.kind = task, kind
        self.features = features if features is not None else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, num_outputs(task))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(self.dropout(self.features(x)))
        return self.kind.head_logits(logits)

    def extra_repr(self) -> str:
        return f"task={self.task.name!r}, kind={self.task.kind!r}"


VGG_FC_FEATURES = 4096
"""Width of VGG16's fc7 output (``Backbone.classifier_layers``)."""
