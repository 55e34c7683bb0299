"""What each kind of task means, in one entry per kind: :data:`TASK_KINDS` (docs/science.md §1).

A :class:`~aelab.tasks.Task` names its kind (``binary``, ``multiclass``, ``multilabel``, ``regression``, ``text``);
everything that depends on the kind is a method or attribute of that kind's entry here, and the rest of the package
looks it up with :func:`kind_of` instead of testing the kind's name:

- ``outputs``: :func:`num_outputs`, the width of the task's head; ``head_logits``:
  :class:`aelab.models.heads.Head` (one-output kinds return ``(B,)``);
- ``loss_logits``, ``sample_loss``: :func:`aelab.train.task_loss` (accepted logits shape; softmax CE, BCE with
  logits, BCE per tag, squared error);
- ``array_dims``, ``squeeze_arrays``, ``metrics``, ``metric_keys``, ``confusion``: :func:`aelab.train.compute_metrics`
  and :func:`aelab.train.confusion`; ``primary_metric``: the best epoch
  (:func:`aelab.train.evaluation.primary_score`);
- ``row``, ``label``, ``summary``: :func:`aelab.predict`'s columns and predicted class name(s), an explanation's
  ``{"class", "probabilities"}`` (or ``{"score"}``), :func:`predicted_labels` for a batch;
- ``target``, ``missing``: :class:`aelab.data.datasets.TaskDataset` (a label as a tensor; the placeholder of a
  missing label, masked out of the loss);
- ``captum_view``: :class:`aelab.viz.cam.TaskOutput` (the head as ``(B, K)`` scores, one column per class);
- ``combine``: :func:`aelab.models.auxiliary.combine_predictions` (paper 004's weighted sum of probabilities);
- ``likelihood_factor``: :class:`aelab.train.balancing.UncertaintyWeighting` (Kendall et al. 2018);
- ``predicted``: a head predicts the task from a label (``text`` tasks are inputs); ``exclusive``: each image gets
  exactly one of the task's classes (confusion matrices kept by evaluation).

A new kind is one subclass of :class:`TaskKind` added to :data:`TASK_KINDS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
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
from torch import Tensor

from aelab.errors import UnknownNameError
from aelab.tasks import HIGH_AESTHETIC_THRESHOLD, Task, get_task

NAN = float("nan")
PROBABILITY_FLOOR = 1e-6
"""Keeps ``log p`` and ``logit p`` of a combined prediction finite when a head is certain (paper 004)."""
DECISION_PROBABILITY = 0.5
"""A binary / multi-label output is predicted positive when its probability is above this."""


class TaskKind:
    """One kind of prediction target. This base is a kind without a head (``text``: comments are an input);
    the predicted kinds override every method."""

    name: str = ""
    predicted: bool = False
    """A head predicts the task from the image and a label trains it (loss, metrics, dataset targets)."""
    exclusive: bool = False
    """Each image gets exactly one of the task's classes, so a class × class confusion matrix says something."""
    primary_metric: str = ""
    """The metric that stands for the task when the best epoch is chosen."""
    metric_keys: tuple[str, ...] = ()
    """The keys :meth:`metrics` returns (NaN each for an empty split)."""
    likelihood_factor: float = 1.0
    """Kendall, Gal & Cipolla (2018) eqs. 7 and 10: ``1/2`` before a Gaussian (regression) likelihood's loss, 1 for a
    softmax / sigmoid likelihood."""
    array_dims: tuple[int, int] = (2, 2)
    """Dimensions of the split's logits and targets as :meth:`metrics` reads them."""

    def _absent(self, task: Task, what: str) -> ValueError:
        return ValueError(f"task {task.name!r} is a {self.name} task; it has no {what}")

    def outputs(self, task: Task) -> int:
        """Width of the logits a head produces for ``task``."""
        return len(task.classes)

    # ---- model -------------------------------------------------------------------------------------------
    def head_logits(self, logits: Tensor) -> Tensor:
        """A head's ``(B, outputs)`` linear output in the shape the kind's logits take."""
        return logits

    def captum_view(self, logits: Tensor) -> Tensor:
        """The head as ``(B, K)`` scores, one column per class target, the single output captum needs."""
        return logits.unsqueeze(1) if logits.dim() == 1 else logits

    def combine(self, main: Tensor, auxiliary: Sequence[Tensor], weight: float) -> Tensor:
        """Paper 004's prediction from a main head and auxiliary heads: ``(p_main + w·Σ p_aux) / (1 + w·n)`` of
        the heads' probabilities, returned as logits of this kind."""
        raise ValueError(f"a {self.name} task has no auxiliary heads")

    # ---- training ----------------------------------------------------------------------------------------
    def loss_logits(self, task: Task, logits: Tensor) -> Tensor:
        """``logits`` checked (and squeezed) to the shape :meth:`sample_loss` takes."""
        raise self._absent(task, "loss in aelab.train.task_loss")

    def sample_loss(self, task: Task, logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """The ``(B,)`` loss of each sample; masked-out targets are replaced by a harmless value first."""
        raise self._absent(task, "loss in aelab.train.task_loss")

    # ---- evaluation --------------------------------------------------------------------------------------
    def squeeze_arrays(self, scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A split's logits and targets with a trailing width-1 axis dropped where the kind has one output."""
        return scores, y

    def metrics(self, task: Task, scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """The :attr:`metric_keys` of a non-empty split (docs/science.md §1 "Metrics")."""
        raise self._absent(task, "metrics in aelab.train.compute_metrics")

    def confusion(self, task: Task, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Confusion matrix with every class label (rows: true, columns: predicted)."""
        raise self._absent(task, "confusion matrix in aelab.train.confusion")

    # ---- prediction and data -----------------------------------------------------------------------------
    def row(self, task: Task, logits: Tensor) -> dict[str, Any]:
        """Prediction columns of one sample's logits: probabilities (or the score) and the predicted class."""
        raise self._absent(task, "prediction in aelab.predict")

    def label(self, task: Task, logits: Tensor) -> str:
        """The predicted class name(s) of one sample's logits."""
        raise self._absent(task, "predicted class")

    def summary(self, task: Task, logits: Tensor) -> dict[str, Any]:
        """One sample's prediction as ``{"class": name(s), "probabilities": {class: p}}`` (``{"score": s}`` for a
        score), the numbers an explanation shows."""
        raise self._absent(task, "prediction in aelab.predict")

    def target(self, task: Task, value: Any) -> Tensor:
        """A sample's label as the tensor :meth:`sample_loss` takes."""
        raise self._absent(task, "label target")

    def missing(self, task: Task) -> Tensor:
        """The placeholder target of a sample without the label (masked out, so its value never counts)."""
        raise self._absent(task, "label target")


def _check_shape(task: Task, tensor: Tensor, expected: tuple[int, ...], what: str) -> None:
    if tuple(tensor.shape) != expected:
        raise ValueError(f"{what} for {task.kind} task {task.name!r} must have shape {expected}, "
                         f"got {tuple(tensor.shape)}")


def _nan_if_undefined(metric, y: np.ndarray, pred: np.ndarray, defined: bool) -> float:
    return float(metric(y, pred, pos_label=1, zero_division=0)) if defined else NAN


def _correlation(fn, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return NAN
    value = float(fn(x, y)[0])
    return value if math.isfinite(value) else NAN


def _logit(p: Tensor) -> Tensor:
    p = p.clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    return torch.log(p) - torch.log1p(-p)


class _PerClass(TaskKind):
    """Kinds with one logit per class, ``(B, C)``."""

    predicted = True

    def loss_logits(self, task: Task, logits: Tensor) -> Tensor:
        if logits.dim() != 2:
            raise ValueError(f"logits for {task.kind} task {task.name!r} must have shape (B, {num_outputs(task)}), "
                             f"got {tuple(logits.shape)}")
        return logits

    def row(self, task: Task, logits: Tensor) -> dict[str, Any]:
        probabilities = self.probabilities(logits)
        row: dict[str, Any] = {f"{task.name}_{name}": float(p) for name, p in zip(task.classes, probabilities)}
        row[task.name] = self.label(task, logits)
        return row

    def summary(self, task: Task, logits: Tensor) -> dict[str, Any]:
        probabilities = self.probabilities(logits)
        return {"class": self.label(task, logits),
                "probabilities": {name: float(p) for name, p in zip(task.classes, probabilities)}}

    def probabilities(self, logits: Tensor) -> Tensor:
        """Each class's probability."""
        raise NotImplementedError


class _OneOutput(TaskKind):
    """Kinds with one logit per sample: ``(B,)`` (``(B, 1)`` accepted)."""

    predicted = True
    array_dims = (1, 1)

    def outputs(self, task: Task) -> int:
        return 1

    def head_logits(self, logits: Tensor) -> Tensor:
        return logits.squeeze(-1)

    def loss_logits(self, task: Task, logits: Tensor) -> Tensor:
        if logits.dim() == 2 and logits.shape[1] == 1:
            return logits[:, 0]
        if logits.dim() != 1:
            raise ValueError(f"logits for {task.kind} task {task.name!r} must have shape (B,) or (B, 1), "
                             f"got {tuple(logits.shape)}")
        return logits

    def sample_loss(self, task: Task, logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        batch = logits.shape[0]
        _check_shape(task, target.reshape(-1) if target.dim() == 2 and target.shape[1] == 1 else target,
                     (batch,), "target")
        target = target.reshape(batch).to(logits.dtype)
        return self.value_loss(logits, torch.where(mask, target, torch.zeros_like(target)))

    def value_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Per-sample loss of ``(B,)`` logits against ``(B,)`` float targets."""
        raise NotImplementedError

    def squeeze_arrays(self, scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return scores, y

    def target(self, task: Task, value: Any) -> Tensor:
        return torch.tensor(float(value), dtype=torch.float32)

    def missing(self, task: Task) -> Tensor:
        return torch.tensor(0.0, dtype=torch.float32)


class Binary(_OneOutput):
    """Two classes from one logit ``z``: BCE with logits; class 1 ("high", "positive") when ``σ(z) > 0.5``."""

    name = "binary"
    exclusive = True
    primary_metric = "accuracy"
    metric_keys = ("accuracy", "precision", "recall", "f1")

    def value_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")

    def metrics(self, task: Task, scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Accuracy, and precision / recall / F1 of the positive class (label 1); positive when logit > 0."""
        pred = (scores > 0).astype(int)
        y = y.astype(int)
        return {
            "accuracy": float(accuracy_score(y, pred)),
            "precision": _nan_if_undefined(precision_score, y, pred, defined=pred.any()),
            "recall": _nan_if_undefined(recall_score, y, pred, defined=y.any()),
            "f1": _nan_if_undefined(f1_score, y, pred, defined=(pred.any() or y.any())),
        }

    def confusion(self, task: Task, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        return confusion_matrix(y.astype(int), (scores > 0).astype(int), labels=[0, 1])

    def row(self, task: Task, logits: Tensor) -> dict[str, Any]:
        return {f"{task.name}_probability": float(torch.sigmoid(logits)), task.name: self.label(task, logits)}

    def label(self, task: Task, logits: Tensor) -> str:
        return task.classes[int(float(torch.sigmoid(logits)) > DECISION_PROBABILITY)]

    def summary(self, task: Task, logits: Tensor) -> dict[str, Any]:
        """Both classes' probabilities: ``1 − σ(z)`` and ``σ(z)``."""
        high = float(torch.sigmoid(logits))
        return {"class": self.label(task, logits), "probabilities": dict(zip(task.classes, (1.0 - high, high)))}

    def captum_view(self, logits: Tensor) -> Tensor:
        """``[-z, z]``: class 1 is the logit, class 0 its negative (the log-odds against class 1)."""
        return torch.stack([-logits, logits], dim=1)

    def combine(self, main: Tensor, auxiliary: Sequence[Tensor], weight: float) -> Tensor:
        scale = 1.0 + weight * len(auxiliary)
        return _logit((torch.sigmoid(main) + weight * sum(torch.sigmoid(a) for a in auxiliary)) / scale)


class Regression(_OneOutput):
    """A score (the AVA mean): squared error; SRCC, PLCC, MSE and accuracy of high (> 5) vs low."""

    name = "regression"
    primary_metric = "srcc"
    metric_keys = ("srcc", "plcc", "mse", "accuracy")
    likelihood_factor = 0.5

    def value_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return (logits - target).pow(2)

    def metrics(self, task: Task, scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
        high = HIGH_AESTHETIC_THRESHOLD
        return {
            "srcc": _correlation(spearmanr, y, scores),
            "plcc": _correlation(pearsonr, y, scores),
            "mse": float(mean_squared_error(y, scores)),
            "accuracy": float(accuracy_score(y > high, scores > high)),
        }

    def confusion(self, task: Task, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        high = HIGH_AESTHETIC_THRESHOLD
        return confusion_matrix((y > high).astype(int), (scores > high).astype(int), labels=[0, 1])

    def row(self, task: Task, logits: Tensor) -> dict[str, Any]:
        return {f"{task.name}_score": float(logits)}

    def label(self, task: Task, logits: Tensor) -> str:
        return f"{float(logits):.3g}"

    def summary(self, task: Task, logits: Tensor) -> dict[str, Any]:
        return {"score": float(logits)}

    def combine(self, main: Tensor, auxiliary: Sequence[Tensor], weight: float) -> Tensor:
        """The weighted mean of the heads' scores (not in paper 004; an unnormalised sum would rescale it)."""
        return (main + weight * sum(auxiliary)) / (1.0 + weight * len(auxiliary))


class Multiclass(_PerClass):
    """One of C classes: softmax cross-entropy; accuracy and macro-F1 (docs/science.md §1 chooses it for the 8
    emotions)."""

    name = "multiclass"
    exclusive = True
    primary_metric = "accuracy"
    metric_keys = ("accuracy", "f1", "f1_macro")
    array_dims = (2, 1)

    def sample_loss(self, task: Task, logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        batch = logits.shape[0]
        _check_shape(task, logits, (batch, num_outputs(task)), "logits")
        _check_shape(task, target, (batch,), "target")
        safe = torch.where(mask, target.long(), torch.zeros_like(target, dtype=torch.long))
        return F.cross_entropy(logits, safe, reduction="none")

    def metrics(self, task: Task, scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
        pred, y = scores.argmax(axis=1), y.astype(int)
        f1 = float(f1_score(y, pred, average="macro", zero_division=0))
        return {"accuracy": float(accuracy_score(y, pred)), "f1": f1, "f1_macro": f1}

    def confusion(self, task: Task, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        return confusion_matrix(y.astype(int), scores.argmax(axis=1), labels=list(range(num_outputs(task))))

    def probabilities(self, logits: Tensor) -> Tensor:
        return torch.softmax(logits, dim=-1)

    def label(self, task: Task, logits: Tensor) -> str:
        return task.classes[int(self.probabilities(logits).argmax())]

    def target(self, task: Task, value: Any) -> Tensor:
        return torch.tensor(int(value), dtype=torch.long)

    def missing(self, task: Task) -> Tensor:
        return torch.tensor(-1, dtype=torch.long)

    def combine(self, main: Tensor, auxiliary: Sequence[Tensor], weight: float) -> Tensor:
        """``log p`` of the combined class probabilities."""
        scale = 1.0 + weight * len(auxiliary)
        p = (main.softmax(-1) + weight * sum(a.softmax(-1) for a in auxiliary)) / scale
        return p.clamp_min(PROBABILITY_FLOOR).log()


class Multilabel(_PerClass):
    """Any subset of T tags (AVA styles): BCE per tag; mAP over tags and exact-match accuracy."""

    name = "multilabel"
    primary_metric = "map"
    metric_keys = ("map", "accuracy")

    def sample_loss(self, task: Task, logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        batch = logits.shape[0]
        _check_shape(task, logits, (batch, num_outputs(task)), "logits")
        _check_shape(task, target, (batch, num_outputs(task)), "target")
        safe = torch.where(mask[:, None], target.to(logits.dtype), torch.zeros((), dtype=logits.dtype,
                                                                               device=logits.device))
        return F.binary_cross_entropy_with_logits(logits, safe, reduction="none").mean(dim=1)

    def metrics(self, task: Task, scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Mean average precision over the tags with a positive target; exact match of all tags (logit > 0)."""
        y = y.astype(int)
        probs = 1.0 / (1.0 + np.exp(-scores))
        per_tag = [average_precision_score(y[:, t], probs[:, t]) for t in range(y.shape[1]) if y[:, t].any()]
        return {
            "map": float(np.mean(per_tag)) if per_tag else NAN,
            "accuracy": float(np.mean(np.all((scores > 0) == (y == 1), axis=1))),
        }

    def confusion(self, task: Task, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        """One 2×2 matrix per tag, ``(T, 2, 2)``; an empty split gives zeros."""
        if len(y) == 0:
            return np.zeros((num_outputs(task), 2, 2), dtype=np.int64)
        return multilabel_confusion_matrix(y.astype(int), (scores > 0).astype(int),
                                           labels=list(range(num_outputs(task))))

    def probabilities(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)

    def label(self, task: Task, logits: Tensor) -> str:
        """The tags above probability 0.5, joined by ``;``."""
        probabilities = self.probabilities(logits)
        return ";".join(n for n, p in zip(task.classes, probabilities) if p > DECISION_PROBABILITY)

    def target(self, task: Task, value: Any) -> Tensor:
        return torch.tensor(np.asarray(value, dtype=np.float32))

    def missing(self, task: Task) -> Tensor:
        return torch.zeros(len(task.classes))

    def combine(self, main: Tensor, auxiliary: Sequence[Tensor], weight: float) -> Tensor:
        """``logit p`` of each tag's combined probability."""
        scale = 1.0 + weight * len(auxiliary)
        return _logit((torch.sigmoid(main) + weight * sum(torch.sigmoid(a) for a in auxiliary)) / scale)


class Text(TaskKind):
    """Comments: an input of image–text models, not predicted by a head."""

    name = "text"


TASK_KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (Binary(), Multiclass(), Multilabel(), Regression(),
                                                                 Text())}
"""Every task kind by name; a new kind is one entry."""


def kind_named(name: str) -> TaskKind:
    """The registry entry of a kind's name; UnknownNameError lists the kinds."""
    try:
        return TASK_KINDS[name]
    except KeyError:
        raise UnknownNameError("task kind", name, list(TASK_KINDS)) from None


def num_outputs(task: Task) -> int:
    """Width of the logits a model head must produce for ``task`` (its kind's ``outputs``)."""
    return kind_named(task.kind).outputs(task)


def kind_of(task: str | Task) -> TaskKind:
    """The registry entry of a task's kind (the task by name or object)."""
    return kind_named(get_task(task).kind)


def predicted_kinds() -> list[str]:
    """The kinds a head predicts, in registry order."""
    return [name for name, kind in TASK_KINDS.items() if kind.predicted]


def predicted_labels(task: str | Task, logits: Tensor) -> list[str]:
    """The predicted class name(s) of each sample in a batch of ``task``'s logits (as :func:`aelab.predict`)."""
    task = get_task(task)
    kind = kind_of(task)
    return [kind.label(task, sample) for sample in logits.detach().float().cpu()]
