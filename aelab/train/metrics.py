"""Evaluation metrics over a whole split (METHODS.md §1 "Metrics"), computed with scikit-learn and SciPy.

``compute_metrics(task, logits, targets, mask)`` takes the concatenated logits and targets of a split and
returns plain floats:

==========  ==========================================================================================
kind        keys
==========  ==========================================================================================
multiclass  ``accuracy``; ``f1`` = ``f1_macro``: macro-F1 (METHODS choice for the 8 emotions), averaged
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

import math

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    mean_squared_error,
    multilabel_confusion_matrix,
    precision_score,
    recall_score,
)

from aelab.tasks import HIGH_AESTHETIC_THRESHOLD, Task, get_task

NAN = float("nan")

METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "multiclass": ("accuracy", "f1", "f1_macro"),
    "binary": ("accuracy", "precision", "recall", "f1"),
    "multilabel": ("map", "accuracy"),
    "regression": ("srcc", "plcc", "mse", "accuracy"),
}
"""The keys :func:`compute_metrics` returns for each task kind."""


def compute_metrics(task: str | Task, logits, targets, mask=None) -> dict[str, float]:
    """Metrics of ``task`` over a split; see the module docstring for the keys and the NaN cases."""
    task = get_task(task)
    scores, y = _prepare(task, logits, targets, mask)
    if len(y) == 0:
        return {key: NAN for key in METRIC_KEYS[task.kind]}

    if task.kind == "multiclass":
        pred, y = scores.argmax(axis=1), y.astype(int)
        f1 = float(f1_score(y, pred, average="macro", zero_division=0))
        return {"accuracy": float(accuracy_score(y, pred)), "f1": f1, "f1_macro": f1}

    if task.kind == "binary":
        pred = (scores > 0).astype(int)
        y = y.astype(int)
        return {
            "accuracy": float(accuracy_score(y, pred)),
            "precision": _nan_if_undefined(precision_score, y, pred, defined=pred.any()),
            "recall": _nan_if_undefined(recall_score, y, pred, defined=y.any()),
            "f1": _nan_if_undefined(f1_score, y, pred, defined=(pred.any() or y.any())),
        }

    if task.kind == "multilabel":
        y = y.astype(int)
        probs = 1.0 / (1.0 + np.exp(-scores))
        per_tag = [average_precision_score(y[:, t], probs[:, t]) for t in range(y.shape[1]) if y[:, t].any()]
        return {
            "map": float(np.mean(per_tag)) if per_tag else NAN,
            "accuracy": float(np.mean(np.all((scores > 0) == (y == 1), axis=1))),
        }

    # regression
    return {
        "srcc": _correlation(spearmanr, y, scores),
        "plcc": _correlation(pearsonr, y, scores),
        "mse": float(mean_squared_error(y, scores)),
        "accuracy": float(accuracy_score(y > HIGH_AESTHETIC_THRESHOLD, scores > HIGH_AESTHETIC_THRESHOLD)),
    }


def confusion(task: str | Task, logits, targets, mask=None) -> np.ndarray:
    """Confusion matrix of ``task`` with all class labels (see the module docstring for the shapes)."""
    task = get_task(task)
    scores, y = _prepare(task, logits, targets, mask)
    if task.kind == "multiclass":
        return confusion_matrix(y.astype(int), scores.argmax(axis=1), labels=list(range(task.num_outputs)))
    if task.kind == "binary":
        return confusion_matrix(y.astype(int), (scores > 0).astype(int), labels=[0, 1])
    if task.kind == "regression":
        high = HIGH_AESTHETIC_THRESHOLD
        return confusion_matrix((y > high).astype(int), (scores > high).astype(int), labels=[0, 1])
    # multilabel: one 2×2 matrix per tag; an empty split gives zeros
    if len(y) == 0:
        return np.zeros((task.num_outputs, 2, 2), dtype=np.int64)
    return multilabel_confusion_matrix(y.astype(int), (scores > 0).astype(int),
                                       labels=list(range(task.num_outputs)))


def _prepare(task: Task, logits, targets, mask) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 numpy arrays of the valid samples: scores ``(N,)`` or ``(N, C)`` and targets."""
    if task.kind == "text":
        raise ValueError(f"task {task.name!r} is a text task; it has no metrics in aelab.train.compute_metrics")
    scores = _to_numpy(logits)
    y = _to_numpy(targets)
    if task.kind in ("binary", "regression"):
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        expected_scores, expected_y = 1, 1
    elif task.kind == "multiclass":
        expected_scores, expected_y = 2, 1
    else:
        expected_scores, expected_y = 2, 2
    if scores.ndim != expected_scores or y.ndim != expected_y or len(scores) != len(y):
        raise ValueError(
            f"{task.kind} task {task.name!r}: expected logits with {expected_scores} and targets with "
            f"{expected_y} dimension(s) and the same length, got logits {scores.shape} and targets {y.shape}"
        )
    if scores.ndim == 2 and scores.shape[1] != task.num_outputs:
        raise ValueError(f"{task.kind} task {task.name!r}: expected {task.num_outputs} logits per sample, "
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


def _nan_if_undefined(metric, y: np.ndarray, pred: np.ndarray, defined: bool) -> float:
    return float(metric(y, pred, pos_label=1, zero_division=0)) if defined else NAN


def _correlation(fn, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return NAN
    value = float(fn(x, y)[0])
    return value if math.isfinite(value) else NAN
