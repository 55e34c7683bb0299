"""Class visualisation: an image that maximises one class's logit of one task head (Simonyan et al. 2014; Olah et
al. 2017 *Feature Visualization*, "class logits"; paper 004 eq. 2 with the model's output as the objective).

The renderer (:func:`aelab.viz.render.render`) optimises for a probe layer's activation ``(B, C, H, W)``. The model's
output is made one more probe layer by :class:`TaskOutputs`: the head of ``task`` seen as ``(B, K, 1, 1)`` scores,
one per class, read through the task kind's ``captum_view`` (:data:`aelab.task_kinds.TASK_KINDS`): a binary head's
logit ``z`` becomes ``[-z, z]`` (class 0, class 1), a multiclass or multi-label head's logits pass unchanged, a
regression head is ``[z]``. A class's image is then the :func:`~aelab.viz.objectives.channel` objective of its
column — rendered batched, seeded, with frozen weights, like any channel visualisation.

Class images start from the flat colour their logit scores highest, speckled as much as the logit prefers
(``start="best_colour_grain"``, :mod:`aelab.viz.start`; :func:`class_settings`): a class logit of a network
trained on colour recipes has local optima in the image's global colour, from Lucid's grey start gradient ascent
reaches the nearer one, and a fine grain is out of its reach. On an earlier SynthAE reference run (64 px, 64 steps) the
grey start gave pale images of the right hue for 5 of the 8 emotions and the right brightness for 1 (1 of 8
matched its recipe); the colour start gives 7 of 8, on three seeds, but its negative emotions' images came out
smoother than the positive ones (roughness 0.085 against 0.102); with the speckle the negative ones are the
rougher (0.196 against 0.102), as SynthAE planted, and 7 of 8 still match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from aelab.errors import ConfigError, UnknownNameError
from aelab.task_kinds import kind_named
from aelab.tasks import Task, get_task
from aelab.viz.objectives import Objective, channel
from aelab.viz.probe import model_normalization
from aelab.viz.render import render
from aelab.viz.render_settings import RenderSettings

OUTPUT_PREFIX = "output."
"""Probe names of :class:`TaskOutputs`: ``"output.<task>"``."""

CLASS_START = "best_colour_grain"
"""Where class images start (a name of :data:`aelab.viz.start.STARTS`; see the module docstring)."""


def class_settings(settings: RenderSettings = RenderSettings()) -> RenderSettings:
    """``settings`` with the class images' start, :data:`CLASS_START`."""
    return replace(settings, start=CLASS_START)


def model_tasks(model: nn.Module) -> dict[str, Task]:
    """The predicted tasks of a multi-task model (``model.tasks``), by name; text inputs are left out."""
    tasks = {}
    for task in getattr(model, "tasks", []):
        task = get_task(task)
        if kind_named(task.kind).predicted:
            tasks[task.name] = task
    return tasks


class TaskOutputs(nn.Module):
    """``model`` whose task heads are probe layers ``"output.<task>"``: ``(B, K, 1, 1)`` class scores each (see the
    module docstring). Carries the model's input normalisation, so rendered images go through it as usual."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.tasks = model_tasks(model)
        if not self.tasks:
            raise ConfigError("class visualisation model", type(model).__name__,
                              "a multi-task model whose task heads are listed in model.tasks")
        self.normalization = model_normalization(model)

    def probe_layers(self) -> list[str]:
        return [OUTPUT_PREFIX + name for name in self.tasks]

    def forward_until(self, images: torch.Tensor, name: str) -> torch.Tensor:
        task = self.tasks[name.removeprefix(OUTPUT_PREFIX)]
        scores = kind_named(task.kind).captum_view(self.model(images)[task.name])
        return scores.reshape(scores.shape[0], -1)[:, :, None, None]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(images)


def class_names(model: nn.Module, task: str) -> tuple[str, ...]:
    """The classes of ``task`` in the order of its :class:`TaskOutputs` columns; a regression head's one column is
    named after its task (Grad-CAM calls it "score": :func:`aelab.viz.cam.task_classes`)."""
    tasks = model_tasks(model)
    if task not in tasks:
        raise UnknownNameError("task head", task, list(tasks))
    return tasks[task].classes or (task,)


def logit(task: str, classes: int | Sequence[int]) -> Objective:
    """One image per class index, each maximising that class's score of head ``task`` (to be rendered on
    :class:`TaskOutputs` of the model): the logit of a multiclass class, ``±z`` for a binary head's classes."""
    objective = channel(OUTPUT_PREFIX + task, classes)
    objective.description = f"{task} class {list(objective.channels.tolist())}"
    return objective


def class_visualisations(model: nn.Module, tasks: Sequence[str] | None = None,
                         settings: RenderSettings | None = None, progress: bool = False
                         ) -> dict[str, torch.Tensor]:
    """``{task: (K, 3, size, size)}``: one image in [0, 1] per class of each task (default every predicted task of
    the model), each maximising its class's logit (see the module docstring). Image ``k`` of a task has seed
    index ``k``, so a class's image does not depend on which other classes are rendered. ``settings``: default
    :func:`class_settings` of the render defaults; given settings are used as they are."""
    settings = class_settings() if settings is None else settings
    outputs = TaskOutputs(model)
    names = list(outputs.tasks) if tasks is None else list(tasks)
    images = {}
    for task in names:
        if task not in outputs.tasks:
            raise UnknownNameError("task head", task, list(outputs.tasks))
        count = len(class_names(model, task))
        images[task] = render(outputs, logit(task, range(count)), settings, progress=progress)
    return images
