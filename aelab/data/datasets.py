"""One torch ``Dataset`` for every source: samples (from a reader or SynthAE) + the chosen tasks + a transform."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from aelab.aesthetic_targets import get_aesthetic_target
from aelab.data.sample import Sample
from aelab.errors import ConfigError
from aelab.task_kinds import kind_of
from aelab.tasks import Task, get_task
from aelab.text.tokenize import join_comments


PROBE_SAMPLES = 2048
"""How many leading samples the dataset reads to check which labels (and comments) the data carries."""


def _target(task: Task, value: Any) -> torch.Tensor:
    """A present label as its kind's target tensor (:data:`aelab.task_kinds.TASK_KINDS`)."""
    return kind_of(task).target(task, value)


def _missing(task: Task) -> torch.Tensor:
    """The kind's placeholder for an absent label (masked out of the loss)."""
    return kind_of(task).missing(task)


class TaskDataset(Dataset):
    """Samples turned into training items for the chosen tasks.

    Item ``i`` is a dict ``{"image": C×H×W tensor, "targets": {task: tensor}, "mask": {task: bool},
    "index": i}``: multiclass targets are class indices, binary/regression targets floats, multilabel
    targets float vectors. A sample without a label for a task (AVA images outside the style lists)
    gets a placeholder and ``mask[task] = False`` so the loss can skip it. When the samples carry
    ``comments``, items also hold ``"comments"``: one string per image (:func:`aelab.text.join_comments`,
    ``""`` without comments), which the default collate turns into a list for image–text models. Images are
    decoded by :meth:`Sample.load_image`, i.e. :func:`aelab.data.images.open_rgb` (16-bit and float images scaled
    by their range, transparency on white), the same opener as the readers' checks and prediction. Samples read
    from a decoded cache (:mod:`aelab.data.cache`) hand their ``uint8`` pixels to the transform as a tensor.

    With ``soft_aesthetic`` (a temperature in score points) items also hold ``"loss_targets"``: the targets the
    loss is computed on, equal to ``"targets"`` except that the binary ``aesthetic`` target of a sample that carries
    the raters' mean score is made from it as ``aesthetic_target`` says (:mod:`aelab.aesthetic_targets`: ``soft``,
    :func:`aelab.tasks.soft_aesthetic` of it; ``score``, the score itself). ``"targets"`` keep the 0/1 labels that
    metrics count.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        tasks: Sequence[str | Task],
        transform: Callable[[Any], torch.Tensor] | None = None,
        soft_aesthetic: float | None = None,
        aesthetic_target: str = "soft",
    ):
        self.samples = samples
        self.tasks = [get_task(t) for t in tasks]
        self.label_tasks = [t for t in self.tasks if kind_of(t).predicted]
        self.transform = transform
        if soft_aesthetic is not None and soft_aesthetic <= 0:
            raise ValueError(f"TaskDataset: soft_aesthetic must be a temperature > 0 or None, got {soft_aesthetic}")
        self.soft_aesthetic = soft_aesthetic
        self.aesthetic_loss_target = get_aesthetic_target(aesthetic_target).loss_target
        if len(samples) == 0:
            raise ValueError("TaskDataset got no samples")
        probe = [self.samples[i] for i in range(min(len(self.samples), PROBE_SAMPLES))]  # read once, checked thrice
        self._check_tasks_present(probe)
        self._check_scores_present(probe)
        self.text = any("comments" in s.labels for s in probe)

    def _check_tasks_present(self, probe: Sequence[Sample]) -> None:
        for task in self.label_tasks:
            if not any(task.name in s.labels for s in probe):
                found = sorted({k for s in probe for k in s.labels})
                raise ValueError(
                    f"task {task.name!r} was asked for but no sample carries that label; labels present: {found}"
                )

    def _check_scores_present(self, probe: Sequence[Sample]) -> None:
        """Aesthetic loss targets (soft or the score itself) are made from the raters' mean score: refuse data that
        carries none."""
        if self.soft_aesthetic is not None and not any("aesthetic_score" in s.labels for s in probe):
            raise ConfigError("soft_aesthetic", self.soft_aesthetic, "null for data whose samples carry no raters' "
                              "mean score (label 'aesthetic_score'), which the aesthetic loss targets are made from")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        as_tensor = getattr(sample.image, "tensor", None)
        if self.transform is not None and callable(as_tensor):  # a decoded cache: uint8 pixels, no decoding
            image = self.transform(as_tensor())
        else:
            image = sample.load_image()
            image = self.transform(image) if self.transform is not None else image
        targets, mask = {}, {}
        for task in self.label_tasks:
            present = task.name in sample.labels
            targets[task.name] = _target(task, sample.labels[task.name]) if present else _missing(task)
            mask[task.name] = torch.tensor(present)
        item = {"image": image, "targets": targets, "mask": mask, "index": index}
        if self.soft_aesthetic is not None:
            item["loss_targets"] = self._loss_targets(sample.labels, targets)
        if self.text:
            item["comments"] = join_comments(sample.labels.get("comments"))
        return item

    def _loss_targets(self, labels: dict[str, Any], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``targets`` with the aesthetic one made from the mean score where the sample has it."""
        softened = dict(targets)
        if "aesthetic" in targets and "aesthetic_score" in labels:
            score = float(labels["aesthetic_score"])
            softened["aesthetic"] = torch.tensor(self.aesthetic_loss_target(score, self.soft_aesthetic),
                                                 dtype=torch.float32)
        return softened

    def label_array(self, task: str) -> np.ndarray:
        """One label over all samples (e.g. for stratified splits); -1 where a sample lacks it."""
        labels_of = getattr(self.samples, "label_array", None)
        if callable(labels_of):  # SynthAE computes labels without rendering
            return labels_of(task)
        return np.array([s.labels.get(task, -1) for s in self.samples])
