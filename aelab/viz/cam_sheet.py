"""The Grad-CAM sheet of a multi-task model: chosen task heads × chosen probe layers, with the numbers that say
what each set of maps shows.

For every task and layer :func:`cam_sheet` computes each image's Grad-CAM map (Selvaraju et al. 2017, eqs. 1–2,
through :func:`aelab.viz.cam.grad_cam`) of the class the head predicts, and for the tasks named in ``per_class``
one set of maps per class at the layers of that task's own branch or of a shared one (:func:`layer_serves`, read
from the model's probe names ``"<branch>.<probe>"``). The panel titles name the predicted class as the prediction
code decodes it (:func:`aelab.task_kinds.predicted_labels`). With SynthAE's subject boxes each set carries its share
of mass inside the box against the boxes' area share
(:func:`aelab.viz.faithfulness_cam.subject_focus_of_maps`); the predicted-class maps of the heads in ``judged``
(default the aesthetic head, whose composition SynthAE plants on the subject) get the verdict ``share ≥ 2 ×
area``, the others are measurements. Each figure of :func:`sheet_figures` carries that line as its title;
:func:`spliced_figure` draws one of paper 004's spliced images titled with the counted spliced check.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from aelab.errors import ConfigError
from aelab.task_kinds import kind_named, predicted_labels
from aelab.viz.cam import grad_cam, head_uses_layer, spliced_image, target_names, task_classes
from aelab.viz.faithfulness_cam import (SplicedCheck, SubjectFocus, check_images, focus_layer, spliced_check,
                                       subject_focus_of_maps)
from aelab.viz.figure_file import wrap_title
from aelab.viz.probe import check_layer

SUBJECT_TASK = "aesthetic"
"""The head SynthAE ties to the subject: its composition faults are drawn on the subject."""


def layer_branch(model: nn.Module, layer: str) -> str | None:
    """The branch probe ``layer`` belongs to: the part of its name before the first dot (``"aesthetic"``,
    ``"emotion"``, ``"shared"``, ``"image"``), None for a probe without one (a plain backbone's ``"layer3"``).
    UnknownNameError (listing the probe layers) for a name the model does not have."""
    check_layer(model, layer)
    branch, dot, _ = layer.partition(".")
    return branch if dot else None


def layer_serves(model: nn.Module, layer: str, task: str) -> bool:
    """Whether ``layer`` lies on ``task``'s own branch or on one no task owns (a shared trunk, the image backbone of
    an image–text model, AENet's shared stream, a plain backbone): the layers whose per-class maps explain that
    head from its own features."""
    branch = layer_branch(model, layer)
    return branch == task or branch not in set(getattr(model, "task_names", []))


def _task(model: nn.Module, task: str):
    tasks = {t.name: t for t in getattr(model, "tasks", [])}
    if task not in tasks:
        raise ConfigError("tasks", task, f"heads of the model: {list(tasks)}")
    return tasks[task]


def predicted_names(model: nn.Module, images: torch.Tensor, task: str, batch_size: int = 64) -> list[str]:
    """The class (or value) ``model`` predicts for each image of ``task``, decoded as predictions are
    (:func:`aelab.task_kinds.predicted_labels`); eval mode, restored afterwards."""
    images = check_images(images)
    definition = _task(model, task)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [name for start in range(0, len(images), batch_size)
                    for name in predicted_labels(definition, model(images[start:start + batch_size].to(device))[task])]
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class CamPanel:
    """One set of maps: ``task``'s Grad-CAM at ``layer`` for every image, of each image's predicted class
    (``target`` None) or of one class (``target`` its name); ``labels``: what each map explains, for the panels;
    ``focus``: the subject-box share against the box area (None without boxes)."""

    task: str
    layer: str
    target: str | None
    maps: torch.Tensor
    labels: tuple[str, ...]
    focus: SubjectFocus | None

    @property
    def key(self) -> str:
        """``"aesthetic@aesthetic.stage3 predicted"`` or ``"aesthetic=low@aesthetic.stage3"`` (results keys)."""
        if self.target is None:
            return f"{self.task}@{self.layer} predicted"
        return f"{self.task}={self.target}@{self.layer}"

    @property
    def file_name(self) -> str:
        middle = self.task if self.target is None else f"{self.task}_{self.target}"
        return f"cam_{middle}_{self.layer}.png"

    def title(self) -> str:
        """The figure title: the subject-box number (with its verdict when judged), or what the maps are."""
        if self.focus is not None:
            return self.focus.describe()
        what = "predicted class" if self.target is None else f"class {self.target}"
        return (f"Grad-CAM {self.task} ({what}) at {self.layer}, {len(self.maps)} images (no subject boxes: "
                "no position check)")


def _focus(maps: torch.Tensor, boxes, task: str, layer: str, target: str, judged: bool) -> SubjectFocus | None:
    if boxes is None:
        return None
    return subject_focus_of_maps(maps, boxes, task=task, layer=layer, target=target, judged=judged)


def cam_sheet(model: nn.Module, images: torch.Tensor, tasks: Sequence[str], layers: Sequence[str], *,
              boxes: Sequence[Sequence[float]] | None = None, per_class: Collection[str] = (),
              judged: Collection[str] = (SUBJECT_TASK,), batch_size: int = 64) -> list[CamPanel]:
    """Grad-CAM of every task in ``tasks`` at every probe layer in ``layers`` that the task's head depends on
    (:func:`aelab.viz.cam.head_uses_layer`) for ``images`` (model inputs ``(B, 3, H, W)``): the predicted class of
    each image, then, for tasks in ``per_class`` with one class per image
    (binary, multiclass), each class at the layers that :func:`layer_serves` that task. ``boxes``: one
    normalised subject box per image (SynthAE) for the box shares; ``judged``: tasks whose predicted-class share
    gets a verdict at the layers that serve them."""
    images = check_images(images)
    for layer in layers:
        check_layer(model, layer)
    definitions = {task: _task(model, task) for task in tasks}
    unknown = [t for t in per_class if t not in definitions]
    if unknown:
        raise ConfigError("per_class", unknown, f"some of the tasks explained: {list(tasks)}")
    panels = []
    for task, definition in definitions.items():
        predicted = tuple(f"{name} (predicted)" for name in predicted_names(model, images, task, batch_size))
        for layer in layers:
            if not head_uses_layer(model, layer, task, images):  # another branch's last connector: no map to draw
                continue
            maps = grad_cam(model, images, layer, task, batch_size=batch_size, check_dependency=False)
            judge = task in judged and layer_serves(model, layer, task)  # its own features, not another head's
            focus = _focus(maps, boxes, task, layer, "predicted class", judge)
            panels.append(CamPanel(task, layer, None, maps, predicted, focus))
            if task not in per_class or not kind_named(definition.kind).exclusive \
                    or not layer_serves(model, layer, task):
                continue
            for index, name in enumerate(definition.classes):
                maps = grad_cam(model, images, layer, task, index, batch_size=batch_size, check_dependency=False)
                focus = _focus(maps, boxes, task, layer, f"class {name}", False)
                panels.append(CamPanel(task, layer, name, maps, (name,) * len(maps), focus))
    return panels


def box_shares(panels: Sequence[CamPanel]) -> dict[str, float]:
    """``{panel key: mean share of its maps inside the subject box}`` (panels with boxes only)."""
    return {panel.key: panel.focus.value for panel in panels if panel.focus is not None}


def predicted_focus(panels: Sequence[CamPanel], task: str, layer: str) -> SubjectFocus | None:
    """The subject-box check of ``task``'s predicted-class maps at ``layer`` already in the sheet (None when the
    sheet has no such panel or no boxes): the same number :func:`aelab.viz.faithfulness_cam.subject_focus` would
    compute again from the model."""
    return next((panel.focus for panel in panels
                 if panel.task == task and panel.layer == layer and panel.target is None), None)


def figure_checks(panels: Sequence[CamPanel]) -> dict[str, dict]:
    """``{figure file: the check its title states}`` (:meth:`SubjectFocus.as_dict`), for a results file."""
    return {panel.file_name: panel.focus.as_dict() for panel in panels if panel.focus is not None}


def _titled(figure: Figure, title: str) -> Figure:
    """``figure`` with ``title``, wrapped to the figure's width (:func:`aelab.viz.figure_file.wrap_title`)."""
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    wrap_title(figure)
    return figure


def sheet_figures(panels: Sequence[CamPanel], pixels: torch.Tensor,
                  boxes: Sequence[Sequence[float]] | None = None, shown: int = 12) -> dict[str, Figure]:
    """``{file name: figure}``: the first ``shown`` images of each panel (``pixels`` RGB in [0, 1]) with their maps,
    the subject boxes drawn, titled with :meth:`CamPanel.title`."""
    from aelab.viz.overlays import cam_figure

    shown = max(1, int(shown))
    figures = {}
    for panel in panels:
        figure = cam_figure(pixels[:shown], panel.maps[:shown], layer=panel.layer, task=panel.task,
                            classes=list(panel.labels[:shown]), boxes=list(boxes[:shown]) if boxes else None)
        figures[panel.file_name] = _titled(figure, panel.title())
    return figures


def subject_check_layer(model: nn.Module, layers: Sequence[str], task: str = SUBJECT_TASK) -> str:
    """Where the notebook's checks read ``task``: the first of ``layers`` that :func:`layer_serves` it (the layer
    its figures show), else paper 000's place, :func:`aelab.viz.faithfulness_cam.focus_layer`."""
    return next((layer for layer in layers if layer_serves(model, layer, task)), None) or focus_layer(model, task)


def spliced_figure(model: nn.Module, images: torch.Tensor, pixels: torch.Tensor,
                   labels: Sequence[int] | np.ndarray, check: SplicedCheck,
                   classes: tuple[int, int] = (0, 1)) -> Figure:
    """One spliced image (paper 004, Fig. 6): the first image of class ``classes[0]`` on the left, the first of
    ``classes[1]`` on the right, each class's Grad-CAM at ``check.layer``; titled with the counted ``check``."""
    from aelab.viz.overlays import spliced_check_figure

    labels = np.asarray(labels).reshape(-1)
    left, right = (int(np.flatnonzero(labels == c)[0]) for c in classes)
    spliced = spliced_image(images[left], images[right])
    names = target_names(model, check.task, list(classes))
    maps = {name: grad_cam(model, spliced[None], check.layer, check.task, target)[0]
            for name, target in zip(names, classes)}
    figure = spliced_check_figure(spliced_image(pixels[left], pixels[right]), maps, layer=check.layer,
                                  task=check.task, left=names[0], right=names[1])
    return _titled(figure, check.describe())


def task_spliced_check(model: nn.Module, images: torch.Tensor, pixels: torch.Tensor,
                       labels: Sequence[int] | np.ndarray, task: str, layers: Sequence[str], *, splices: int = 100,
                       seed: int = 0) -> tuple[SplicedCheck, Figure] | None:
    """Paper 004's spliced check of ``task``'s head, counted (:func:`aelab.viz.faithfulness_cam.spliced_check`, at
    :func:`subject_check_layer` of ``layers``), and the figure of one spliced image of its first two classes, titled
    with the count; None when the model has no such head or ``labels`` (``-1``: missing) hold fewer than two
    classes. A head of two classes joins a class-0 and a class-1 image; a head of more joins two different ones."""
    if task not in getattr(model, "task_names", ()):
        return None
    count = len(task_classes(model, task))  # labels outside the head's classes (-1: missing) are left out
    known = sorted({int(c) for c in np.asarray(labels).reshape(-1) if 0 <= c < count})
    if len(known) < 2:
        return None
    layer = subject_check_layer(model, layers, task=task)
    check = spliced_check(model, images, labels, task=task, layer=layer, splices=splices, seed=seed)
    return check, spliced_figure(model, images, pixels, labels, check, (known[0], known[1]))
