"""Per-task losses with masks and split metrics (docs/science.md §1), checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aelab.tasks import EMOTIONS, STYLES
from aelab.train import compute_metrics, confusion, task_loss



# -- losses ------------------------------------------------------------------------------------------------
def batch(kind: str, seed: int = 0):
    """Logits, targets and a mask (sample 2 masked out) for a kind, batch of 4."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.tensor([True, True, False, True])
    if kind == "emotion":
        return torch.randn(4, 8, generator=g), torch.tensor([0, 3, 5, 7]), mask
    if kind == "style":
        return torch.randn(4, 14, generator=g), (torch.rand(4, 14, generator=g) > 0.5).float(), mask
    if kind == "aesthetic":
        return torch.randn(4, generator=g), torch.tensor([1.0, 0.0, 1.0, 1.0]), mask
    return torch.randn(4, generator=g) + 5, torch.tensor([6.5, 4.0, 5.5, 3.0]), mask  # aesthetic_score


REFERENCE = {  # the unmasked loss on the valid samples only
    "emotion": lambda x, y: F.cross_entropy(x, y),
    "style": lambda x, y: F.binary_cross_entropy_with_logits(x, y),
    "aesthetic": lambda x, y: F.binary_cross_entropy_with_logits(x, y),
    "aesthetic_score": lambda x, y: F.mse_loss(x, y),
}


@pytest.mark.parametrize("task", list(REFERENCE))
def test_masked_loss_equals_loss_on_valid_samples(task):
    logits, target, mask = batch(task)
    loss = task_loss(task, logits, target, mask)
    assert loss.item() == pytest.approx(REFERENCE[task](logits[mask], target[mask]).item(), rel=1e-6)
    # and without a mask, every sample counts
    assert task_loss(task, logits, target, None).item() == pytest.approx(REFERENCE[task](logits, target).item(),
                                                                         rel=1e-6)


@pytest.mark.parametrize("task", list(REFERENCE))
def test_masked_sample_changes_nothing(task):
    logits, target, mask = batch(task)
    logits.requires_grad_(True)
    loss = task_loss(task, logits, target, mask)
    (grad,) = torch.autograd.grad(loss, logits)
    other = target.clone()
    # a placeholder for a missing label: −1 for a class index, NaN for scores and tags
    other[2] = -1 if task == "emotion" else float("nan")
    changed = task_loss(task, logits, other, mask)
    (changed_grad,) = torch.autograd.grad(changed, logits)
    assert changed.item() == loss.item()
    assert torch.equal(changed_grad, grad)
    assert torch.all(grad[2] == 0)


@pytest.mark.parametrize("task", list(REFERENCE))
def test_all_masked_batch_backprops_a_zero(task):
    logits, target, _ = batch(task)
    logits.requires_grad_(True)
    target = target.clone()
    target[0] = -1 if task == "emotion" else float("nan")
    loss = task_loss(task, logits, target, torch.zeros(4, dtype=torch.bool))
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_loss_accepts_column_logits_and_rejects_bad_shapes():
    logits, target, mask = batch("aesthetic")
    assert task_loss("aesthetic", logits[:, None], target, mask).item() == pytest.approx(
        task_loss("aesthetic", logits, target, mask).item())
    with pytest.raises(ValueError, match=r"\(4, 8\)"):
        task_loss("emotion", torch.zeros(4, 7), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="bool"):
        task_loss("aesthetic", logits, target, torch.ones(4))
    with pytest.raises(ValueError, match="text"):
        task_loss("comments", logits, target)


# -- metrics -----------------------------------------------------------------------------------------------
def one_hot_logits(pred: list[int], classes: int) -> torch.Tensor:
    return F.one_hot(torch.tensor(pred), classes).float() * 3.0


def test_multiclass_accuracy_and_macro_f1():
    y = [0, 1, 2, 2, 1, 0]
    pred = [0, 2, 2, 2, 1, 1]
    # per class F1 = 2tp/(2tp+fp+fn): class 0: 2/3, class 1: 2/4, class 2: 4/5; classes 3–7 absent everywhere
    metrics = compute_metrics("emotion", one_hot_logits(pred, 8), torch.tensor(y))
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["f1"] == metrics["f1_macro"] == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)


def test_binary_precision_recall_f1_of_the_positive_class():
    y = [1, 1, 1, 0, 0, 0, 1, 0]
    pred = [1, 1, 0, 1, 1, 0, 1, 0]  # tp 3, fp 2, fn 1, tn 2
    logits = torch.tensor([2.0 if p else -2.0 for p in pred])
    metrics = compute_metrics("sentiment", logits[:, None], torch.tensor(y, dtype=torch.float))
    assert metrics == pytest.approx({"accuracy": 5 / 8, "precision": 3 / 5, "recall": 3 / 4, "f1": 6 / 9})


def test_binary_threshold_is_sigmoid_one_half():
    metrics = compute_metrics("aesthetic", torch.tensor([0.01, -0.01]), torch.tensor([1.0, 0.0]))
    assert metrics["accuracy"] == 1.0


def test_regression_srcc_plcc_mse_accuracy():
    y = torch.tensor([2.0, 4.0, 6.0, 8.0])
    pred = torch.tensor([1.0, 3.0, 2.0, 9.0])
    metrics = compute_metrics("aesthetic_score", pred, y)
    # ranks of pred (1, 3, 2, 4): ρ = 1 − 6·Σd²/(n(n²−1)) = 1 − 12/60
    assert metrics["srcc"] == pytest.approx(0.8)
    assert metrics["plcc"] == pytest.approx(23 / math.sqrt(20 * 38.75))
    assert metrics["mse"] == pytest.approx(19 / 4)
    assert metrics["accuracy"] == pytest.approx(3 / 4)  # (>5): truth F F T T, pred F F F T


def test_multilabel_map_skips_tags_without_positives_and_exact_match():
    tags = len(STYLES)
    y = torch.zeros(4, tags)
    logits = torch.full((4, tags), -1.0)
    y[:, 0] = torch.tensor([1.0, 0.0, 1.0, 0.0])
    logits[:, 0] = torch.tensor([2.0, 1.0, -1.0, -2.0])  # AP = (1/1 + 2/3)/2
    y[:, 1] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    logits[:, 1] = torch.tensor([-1.0, 0.5, 1.0, -2.0])  # AP = 1/2
    metrics = compute_metrics("style", logits, y)
    assert metrics["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert metrics["accuracy"] == pytest.approx(2 / 4)  # rows 0 and 3 match on every tag


def test_mask_selects_samples():
    y = torch.tensor([0, 1, 2, 7])
    logits = one_hot_logits([0, 1, 5, 6], 8)
    mask = torch.tensor([True, True, False, False])
    assert compute_metrics("emotion", logits, y, mask)["accuracy"] == 1.0
    assert compute_metrics("emotion", logits, y, mask.numpy())["accuracy"] == 1.0


def test_confusion_keeps_every_class():
    y = [0, 3, 3, 0]
    pred = [0, 3, 0, 0]
    matrix = confusion("emotion", one_hot_logits(pred, 8), torch.tensor(y))
    assert matrix.shape == (len(EMOTIONS), len(EMOTIONS))
    assert matrix[0, 0] == 2 and matrix[3, 3] == 1 and matrix[3, 0] == 1 and matrix.sum() == 4
    binary = confusion("aesthetic", torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0]))
    assert binary.tolist() == [[0, 0], [0, 2]]
    assert confusion("aesthetic_score", torch.tensor([6.0, 4.0]), torch.tensor([6.0, 6.0])).tolist() == [[0, 0],
                                                                                                         [1, 1]]
    assert confusion("style", torch.zeros(3, 14), torch.zeros(3, 14)).shape == (14, 2, 2)


@pytest.mark.filterwarnings("error")
def test_degenerate_splits_give_nan_without_warnings():
    # one class only, never predicted positive: precision, recall and F1 undefined
    metrics = compute_metrics("sentiment", torch.full((5,), -1.0), torch.zeros(5))
    assert metrics["accuracy"] == 1.0
    assert all(math.isnan(metrics[k]) for k in ("precision", "recall", "f1"))
    # positives never predicted: recall 0, F1 0, precision undefined
    metrics = compute_metrics("sentiment", torch.full((4,), -1.0), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert metrics["recall"] == 0.0 and metrics["f1"] == 0.0 and math.isnan(metrics["precision"])
    # constant predictions: correlations undefined, the rest defined
    metrics = compute_metrics("aesthetic_score", torch.full((4,), 5.5), torch.tensor([2.0, 4.0, 6.0, 8.0]))
    assert math.isnan(metrics["srcc"]) and math.isnan(metrics["plcc"])
    assert metrics["mse"] == pytest.approx((12.25 + 2.25 + 0.25 + 6.25) / 4) and metrics["accuracy"] == 0.5
    # one class in a multiclass split
    metrics = compute_metrics("emotion", one_hot_logits([2, 2, 1], 8), torch.tensor([2, 2, 2]))
    assert metrics["accuracy"] == pytest.approx(2 / 3) and metrics["f1"] == pytest.approx((0.8 + 0) / 2)
    # no tag with a positive: mAP undefined
    metrics = compute_metrics("style", torch.zeros(3, 14), torch.zeros(3, 14))
    assert math.isnan(metrics["map"]) and metrics["accuracy"] == 1.0
    # an empty split (all masked)
    metrics = compute_metrics("emotion", torch.zeros(2, 8), torch.zeros(2), mask=torch.zeros(2, dtype=torch.bool))
    assert all(math.isnan(v) for v in metrics.values())


def test_metric_inputs_are_validated():
    with pytest.raises(ValueError, match="same length"):
        compute_metrics("emotion", torch.zeros(3, 8), torch.zeros(4))
    with pytest.raises(ValueError, match="8 logits"):
        compute_metrics("emotion", torch.zeros(3, 5), torch.zeros(3))
