"""The numbers the explorer prints beside its pictures, each cheap enough to recompute on every redraw.

- the input image as PNG bytes and the class each task head predicts for it with its probability (read through the
  task kind, :meth:`aelab.task_kinds.TaskKind.summary`, as :func:`aelab.predict` reads it);
- channel panel: the chosen channel's activation on the image at the layer (mean and peak over positions, and its
  rank among the layer's channels by mean);
- spatial grid (paper 004 eq. 3): the layer's positions and the cell size they are blended in;
- neuron groups (paper 004 eqs. 4–5): the group count and NMF's relative error ``‖B − UV‖ / ‖B‖``;
- Grad-CAM (Selvaraju et al. 2017): the share of the map inside SynthAE's subject box against the box's share of the
  frame (:func:`aelab.viz.cam.cam_mass_in_box`, :func:`aelab.viz.cam.box_area`, the one-image form of
  :func:`aelab.viz.faithfulness_cam.subject_focus`), or "no ground truth" for an image without a box.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from aelab.task_kinds import kind_of
from aelab.tasks import Task
from aelab.viz.cam import box_area, cam_mass_in_box
from aelab.viz.groups import NeuronGroups
from aelab.viz.overlays import to_hwc
from aelab.viz.spatial import SpatialGrid

NO_GROUND_TRUTH = "no ground truth (no subject box for this image)"


def image_png(pixels: torch.Tensor) -> bytes:
    """An image ``(3, H, W)`` in [0, 1] as 8-bit PNG bytes (what an ``ipywidgets.Image`` shows)."""
    array = (to_hwc(pixels).clip(0, 1) * 255).round().astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def predictions(model: nn.Module, inputs: torch.Tensor, tasks: Sequence[Task]) -> dict[str, str]:
    """``{task: "class (p = 0.83)"}`` for one model input ``(3, H, W)``: each predicted task's class and its
    probability as the task kind reads the head (a score for a regression head)."""
    with torch.no_grad():
        outputs = model(inputs[None].to(next(model.parameters()).device))
    lines = {}
    for task in tasks:
        kind = kind_of(task)
        if not kind.predicted or task.name not in outputs:
            continue
        summary = kind.summary(task, outputs[task.name][0].detach().float().cpu())
        if "score" in summary:
            lines[task.name] = f"score {summary['score']:.3g}"
            continue
        probabilities = summary["probabilities"]
        chosen = [name for name in str(summary["class"]).split(";") if name]  # a multi-label kind joins tags
        shown = ", ".join(f"{name} (p = {probabilities[name]:.3f})" for name in chosen if name in probabilities)
        lines[task.name] = shown or f"none above the threshold (highest p = {max(probabilities.values()):.3f})"
    return lines


def channel_activation(activation: torch.Tensor, channel: int) -> str:
    """The channel's activation on the image: ``activation`` is the layer's ``(C, m, n)`` for that image."""
    means = activation.float().mean(dim=(1, 2))
    rank = int((means > means[channel]).sum()) + 1
    peak = float(activation[channel].max())
    return (f"activation mean {float(means[channel]):.3f}, peak {peak:.3f} "
            f"(rank {rank} of {len(means)} channels on this image)")


def grid_numbers(grid: SpatialGrid) -> str:
    m, n = grid.activation_size
    return f"{m}×{n} positions, cells of {grid.cell}×{grid.cell}"


def group_numbers(groups: NeuronGroups) -> str:
    return f"{groups.n_groups} groups, relative error {groups.relative_error:.3f}"


def subject_box_share(cam: torch.Tensor | None, box: Sequence[float] | None) -> str:
    """The Grad-CAM map's share inside the subject box vs the box's area share (``box`` None: no ground truth)."""
    if cam is None:
        return "no Grad-CAM map"
    if box is None:
        return NO_GROUND_TRUTH
    inside, area = cam_mass_in_box(cam, box), box_area(box)
    if math.isnan(inside):
        return f"empty map (the subject box covers {area:.0%} of the frame)"
    return f"{inside:.0%} of the map in the subject box vs {area:.0%} of the frame ({inside / area:.1f}×)"


@dataclass(frozen=True)
class PanelNumbers:
    """One line per panel (``channel``, ``grid``, ``groups``, ``cam``) and one per task's prediction."""

    channel: str
    grid: str
    groups: str
    cam: str
    predicted: dict[str, str]

    def panels(self) -> dict[str, str]:
        return {"channel": self.channel, "spatial grid": self.grid, "neuron groups": self.groups,
                "Grad-CAM": self.cam}
