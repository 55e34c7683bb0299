"""The task-kind registry: every kind carries every entry, and a new kind is one entry that the losses, metrics,
heads, data sets, prediction rows, Grad-CAM view and balancers pick up without other changes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from aelab.data.datasets import TaskDataset
from aelab.data.sample import Sample
from aelab.errors import UnknownNameError
from aelab.models.auxiliary import combine_predictions
from aelab.models.heads import Head
from aelab.prediction import _row
from aelab.task_kinds import TASK_KINDS, Regression, TaskKind, kind_of, num_outputs, predicted_labels
from aelab.tasks import TASKS, Task, get_task
from aelab.train import compute_metrics, confusion, task_loss
from aelab.train.balancing.uncertainty import UncertaintyWeighting
from aelab.train.evaluation import primary_score
from aelab.viz.cam import TaskOutput

ENTRIES = ("outputs", "head_logits", "captum_view", "combine", "loss_logits", "sample_loss", "squeeze_arrays",
           "metrics", "confusion", "row", "label", "summary", "target", "missing")
"""Every method a predicted kind answers (the base class answers some for all kinds)."""

OWN_ENTRIES = ("combine", "loss_logits", "sample_loss", "metrics", "confusion", "row", "label", "summary", "target",
               "missing")
"""The methods the base class cannot answer: each predicted kind must define them itself."""


def test_every_registered_kind_has_every_entry():
    for name, kind in TASK_KINDS.items():
        assert kind.name == name
        assert all(callable(getattr(kind, entry)) for entry in ENTRIES)
        if not kind.predicted:
            continue
        assert kind.primary_metric in kind.metric_keys
        assert kind.likelihood_factor > 0 and len(kind.array_dims) == 2
        inherited = [entry for entry in OWN_ENTRIES if getattr(type(kind), entry) is getattr(TaskKind, entry)]
        assert not inherited, f"{name} lacks {inherited}"
    assert {task.kind for task in TASKS.values()} <= set(TASK_KINDS)
    assert [name for name, kind in TASK_KINDS.items() if kind.predicted] == [
        "binary", "multiclass", "multilabel", "regression"]


@pytest.mark.parametrize("name", [n for n, t in TASKS.items() if kind_of(t).predicted])
def test_each_canonical_task_goes_through_every_entry(name):
    task, kind = get_task(name), kind_of(name)
    torch.manual_seed(0)
    logits = Head(task, 6)(torch.randn(4, 6, 3, 3)).detach()
    assert logits.shape == ((4,) if num_outputs(task) == 1 else (4, num_outputs(task)))
    labels = {"aesthetic": 1, "aesthetic_score": 6.5, "emotion": 3, "sentiment": 0, "style": [1.0] + [0.0] * 13}
    target = torch.stack([kind.target(task, labels[name])] * 3 + [kind.missing(task)])
    mask = torch.tensor([True, True, True, False])
    assert target.dtype == kind.missing(task).dtype
    assert math.isfinite(float(task_loss(task, logits, target, mask)))
    assert set(compute_metrics(task, logits.detach(), target, mask)) == set(kind.metric_keys)
    assert confusion(task, logits.detach(), target, mask).ndim >= 2
    view = TaskOutput(lambda images: {name: logits}, name, task.kind)(None)
    assert view.dim() == 2 and view.shape[0] == 4
    row = _row([task], {name: logits.detach()}, 0)
    assert row and all(key.startswith(name) for key in row)
    assert predicted_labels(task, logits)[0] == row.get(name, kind.label(task, logits[0]))
    summary = kind.summary(task, logits[0])
    if "score" in summary:
        assert summary == {"score": row[f"{name}_score"]}
    else:
        assert summary["class"] == row[name] and list(summary["probabilities"]) == list(task.classes)
    if kind.exclusive:
        assert sum(summary["probabilities"].values()) == pytest.approx(1.0)
    combined = combine_predictions(task, logits, [logits], 1.0)
    assert torch.allclose(combined.float(), kind.combine(logits, [logits], 1.0))


def test_text_kind_answers_with_a_message_naming_the_task():
    comments, text = get_task("comments"), TASK_KINDS["text"]
    assert not text.predicted
    for call in (lambda: text.sample_loss(comments, None, None, None), lambda: text.row(comments, None),
                 lambda: text.metrics(comments, None, None), lambda: text.missing(comments)):
        with pytest.raises(ValueError, match="'comments' is a text task"):
            call()
    with pytest.raises(ValueError, match="text"):
        compute_metrics("comments", torch.zeros(2), torch.zeros(2))


def test_unknown_kind_names_the_known_kinds():
    with pytest.raises(UnknownNameError, match="unknown task kind 'ordinal'.*binary, multiclass"):
        _ = num_outputs(Task("stars", "ordinal", ("1", "2", "3")))


# ---- a kind that is not built in --------------------------------------------------------------------------


class Count(Regression):
    """Counts with a Poisson likelihood on a log-rate logit (a kind the package does not ship)."""

    name = "count"
    primary_metric = "mae"
    metric_keys = ("mae",)
    likelihood_factor = 1.0

    def value_loss(self, logits, target):
        return F.poisson_nll_loss(logits, target, log_input=True, full=False, reduction="none")

    def metrics(self, task, scores, y):
        return {"mae": float(np.mean(np.abs(np.exp(scores) - y)))}

    def row(self, task, logits):
        return {f"{task.name}_rate": float(logits.exp())}

    def label(self, task, logits):
        return str(round(float(logits.exp())))


@pytest.fixture
def clicks(monkeypatch):
    monkeypatch.setitem(TASK_KINDS, "count", Count())
    return Task("clicks", "count")


def test_a_new_kind_is_one_entry(clicks):
    logits = torch.log(torch.tensor([2.0, 4.0, 1.0, 8.0]))
    target = torch.tensor([3.0, 4.0, 7.0, 6.0])
    mask = torch.tensor([True, True, False, True])
    expected = F.poisson_nll_loss(logits[mask], target[mask], log_input=True)
    assert float(task_loss(clicks, logits, target, mask)) == pytest.approx(float(expected))

    metrics = compute_metrics(clicks, logits, target, mask)
    assert metrics == {"mae": pytest.approx((1 + 0 + 2) / 3)}
    assert math.isnan(compute_metrics(clicks, logits, target, torch.zeros(4, dtype=torch.bool))["mae"])
    assert primary_score([clicks], {"clicks": metrics}) == pytest.approx(1.0)

    assert _row([clicks], {"clicks": logits}, 3) == {"clicks_rate": pytest.approx(8.0)}
    assert predicted_labels(clicks, logits) == ["2", "4", "1", "8"]
    assert Head(clicks, 5)(torch.randn(3, 5, 2, 2)).shape == (3,)
    assert TaskOutput(lambda images: {"clicks": logits}, "clicks", "count")(None).shape == (4, 1)
    assert UncertaintyWeighting([clicks]).factors.tolist() == [1.0]


def test_a_new_gaussian_kind_gets_kendalls_half(clicks, monkeypatch):
    class LogScore(Regression):
        name = "log_score"

    monkeypatch.setitem(TASK_KINDS, "log_score", LogScore())
    factors = UncertaintyWeighting([clicks, Task("log_price", "log_score")]).factors
    assert factors.tolist() == [1.0, 0.5]


def test_a_new_kind_gets_its_dataset_targets_and_placeholders(clicks):
    image = Image.new("RGB", (8, 8))
    data = TaskDataset([Sample("a", {"clicks": 5}, image), Sample("b", {}, image)], [clicks])
    assert float(data[0]["targets"]["clicks"]) == 5.0 and bool(data[0]["mask"]["clicks"])
    assert float(data[1]["targets"]["clicks"]) == 0.0 and not bool(data[1]["mask"]["clicks"])
