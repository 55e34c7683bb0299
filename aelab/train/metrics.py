"""Evaluation metrics over a whole split (docs/science.md §1 "Metrics"), computed with scikit-learn and SciPy.

``compute_metrics(task, logits, targets, mask)`` takes the concatenated logits and targets of a split and
returns plain floats, as defined by each task kind's entry in :data:`aelab.task_kinds.TASK_KINDS`:

==========  ==========================================================================================
kind        keys
==========  ==========================================================================================
multiclass  ``accuracy``; ``f1`` = ``f1_macro``: macro-F1 (see docs/science.md §8 for the 8 emotions), averaged
            over the classes present in the targets or the predictions (scikit-learn's default labels)
binary      ``accuracy``, ``precision``, ``recall``, ``f1`` of the positive class (label 1, "high" /
            "positive"); the prediction is positive when sigmoid(logit) > 0.5, i.e. logit > 0
multilabel  ``map``: mean over tags of ``average_precision_score`` (tags with no positive target are
            skipped); ``accuracy``: exact match of all tags (logit > 0)
regression  ``srcc`` (Spearman), ``plcc`` (Pearson), ``mse``, and ``accuracy`` of (score > 5) vs
            (prediction > 5) as AVA papers report
==========  ==========================================================================================

**Undefined values are NaN, silently**: precision with no positive prediction, recall with no positive target,
F1 when there is neither, SRCC/PLCC with fewer than two samples or a constant input, mAP when no tag has a
positive, and every metric of an empty split (all masked). No warning is emitted for these cases.

``confusion(task, logits, targets, mask)`` is sklearn's ``confusion_matrix`` with every class label (rows: true,
columns: predicted), so absent classes keep their row and column: ``(C, C)`` for multiclass, ``(2, 2)`` for
binary and for regression (low/high at score 5), ``(T, 2, 2)`` per tag for multilabel
(``multilabel_confusion_matrix``).
"""

from __future__ import annotations

import numpy as np
import torch

from aelab.task_kinds import NAN, kind_of, num_outputs
from aelab.tasks import Task, get_task


def compute_metrics(task: str | Task, logits, targets, mask=None) -> dict[str, float]:
    """Metrics of ``task`` over a split, its kind's ``metrics`` (:data:`aelab.task_kinds.TASK_KINDS`); see the
    module docstring for the keys and the NaN cases."""
    task = get_task(task)
    scores, y = _prepare(task, logits, targets, mask)
    kind = kind_of(task)
    if len(y) == 0:
        return {key: NAN for key in kind.metric_keys}
    return kind.metrics(task, scores, y)


def confusion(task: str | Task, logits, targets, mask=None) -> np.ndarray:
    """Confusion matrix of ``task`` with all class labels (see the module docstring for the shapes)."""
    task = get_task(task)
    scores, y = _prepare(task, logits, targets, mask)
    return kind_of(task).confusion(task, scores, y)


def _prepare(task: Task, logits, targets, mask) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 numpy arrays of the valid samples: scores ``(N,)`` or ``(N, C)`` and targets."""
    kind = kind_of(task)
    if not kind.predicted:
        raise ValueError(f"task {task.name!r} is a {task.kind} task; it has no metrics in "
                         "aelab.train.compute_metrics")
    scores, y = kind.squeeze_arrays(_to_numpy(logits), _to_numpy(targets))
    expected_scores, expected_y = kind.array_dims
    if scores.ndim != expected_scores or y.ndim != expected_y or len(scores) != len(y):
        raise ValueError(
            f"{task.kind} task {task.name!r}: expected logits with {expected_scores} and targets with "
            f"{expected_y} dimension(s) and the same length, got logits {scores.shape} and targets {y.shape}"
        )
    if scores.ndim == 2 and scores.shape[1] != num_outputs(task):
        raise ValueError(f"{task.kind} task {task.name!r}: expected {num_outputs(task)} logits per sample, "
                         f"got {scores.shape[1]}")
    if mask is not None:
        keep = _to_numpy(mask).astype(bool).reshape(-1)
        if keep.shape != (len(y),):
            raise ValueError(f"mask must have shape ({len(y)},), got {keep.shape}")
        scores, y = scores[keep], y[keep]
    return scores, y


def _to_numpy(values) -> np.ndarray:
    """float64 (or bool) numpy array of a tensor, array or list."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        return (values if values.dtype == torch.bool else values.double()).numpy()
    array = np.asarray(values)
    return array if array.dtype == bool else array.astype(np.float64)
