"""The figure of one explained photograph (:mod:`aelab.viz.explain`): the photo and the prediction, Grad-CAM of
each task's predicted class (Selvaraju et al. 2017), and per layer the spatial-position grid (paper 004 eq. 3)
and the "where" map of each NMF neuron group (paper 004 eq. 4).

The photo and every map drawn over it keep the photo's aspect ratio: they are drawn with ``extent`` set to the
photo's own width and height in pixels and equal aspect, whatever the size of the array shown. Panels that show
the photo carry the matplotlib label ``photo``, ``grad-cam <task>`` or ``where <layer> <group>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from aelab.viz.overlays import normalised_mosaic, overlay, to_hwc

if TYPE_CHECKING:
    from aelab.viz.explain import PhotoExplanation

PANEL_INCHES = 3.0
MAX_WIDTH_INCHES = 18.0
TITLE_INCHES = 0.55
SUPTITLE_INCHES = 0.45
SHOWN_CLASSES = 3
WARNING_COLOUR = "tab:red"


def _show(ax, picture: np.ndarray, size: tuple[int, int], label: str, title: str) -> None:
    """``picture`` over the photo's own frame (``size`` = width, height px), undistorted."""
    width, height = size
    ax.imshow(picture, extent=(0, width, height, 0), aspect="equal", interpolation="bilinear")
    ax.set_label(label)
    ax.set_title(title, fontsize=8)


def _prediction_lines(prediction: dict[str, Any]) -> list[str]:
    lines = []
    for task, numbers in prediction.items():
        if "probabilities" not in numbers:
            lines.append(f"{task}: score {numbers['score']:.3f}")
            continue
        ranked = sorted(numbers["probabilities"].items(), key=lambda item: -item[1])[:SHOWN_CLASSES]
        shown = ", ".join(f"{name} {p:.2f}" for name, p in ranked)
        lines.append(f"{task} ({numbers['kind']}): {numbers['class'] or '—'}   [{shown}]")
    return lines


def _layout(explained: PhotoExplanation) -> tuple[int, int, float, float]:
    """Rows, columns and one panel's width and height (inches) for the photo's aspect ratio."""
    columns = max(2, len(explained.maps), 1 + max((v.groups.n_groups for v in explained.views), default=0))
    rows = 2 + len(explained.views)
    aspect = explained.photo.aspect
    width = min(PANEL_INCHES * max(aspect, 1.0), MAX_WIDTH_INCHES / columns)
    height = min(width / aspect, PANEL_INCHES) + TITLE_INCHES
    return rows, columns, width, height


def explanation_figure(explained: PhotoExplanation) -> Figure:
    """One figure for one photo (see the module docstring)."""
    rows, columns, width, height = _layout(explained)
    total_height = rows * height + SUPTITLE_INCHES
    figure = plt.figure(figsize=(columns * width, total_height))
    # fixed margins instead of tight_layout, which draws the whole figure once more
    grid = figure.add_gridspec(rows, columns, left=0.01, right=0.99, bottom=0.01,
                               top=1 - (SUPTITLE_INCHES + TITLE_INCHES) / total_height,
                               hspace=TITLE_INCHES / (height - TITLE_INCHES), wspace=0.06)
    photo, numbers = explained.photo, explained.numbers
    base = to_hwc(photo.display)
    _show(figure.add_subplot(grid[0, 0]), base, photo.size, "photo",
          f"{photo.name}\n{photo.size[0]}×{photo.size[1]} px, network input {numbers['input_size'][0]}×"
          f"{numbers['input_size'][1]}")
    text = figure.add_subplot(grid[0, 1:])
    text.axis("off")
    lines = _prediction_lines(explained.prediction) + [f"trained on: {numbers['trained_on']}"]
    text.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=9, family="monospace", transform=text.transAxes)
    if numbers["warning"]:
        text.text(0, 0, numbers["warning"], va="bottom", ha="left", fontsize=9, color=WARNING_COLOUR, wrap=True,
                  transform=text.transAxes)
    for column, task_map in enumerate(explained.maps):
        ax = figure.add_subplot(grid[1, column])
        if task_map.cam is None:
            _show(ax, base, photo.size, f"grad-cam {task_map.task}", f"no Grad-CAM: {task_map.note}")
        else:
            _show(ax, overlay(base, task_map.cam), photo.size, f"grad-cam {task_map.task}",
                  f"Grad-CAM {task_map.task} = {task_map.class_name}\nat {task_map.layer}")
    for row, views in enumerate(explained.views, start=2):
        ax = figure.add_subplot(grid[row, 0])
        ax.imshow(normalised_mosaic(views.grid).permute(1, 2, 0).numpy())
        ax.set_title(f"{views.layer}\n{views.grid.label}, stretched", fontsize=7)
        maps = views.groups.spatial[0]
        total = float(maps.sum()) or 1.0
        for g in range(views.groups.n_groups):
            _show(figure.add_subplot(grid[row, 1 + g]), overlay(base, maps[g], alpha=0.55, cmap="magma"), photo.size,
                  f"where {views.layer} {g}", f"group {g + 1} at {views.layer}\nwhere: "
                                              f"{float(maps[g].sum()) / total:.0%} of loading")
    for ax in figure.axes:
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(f"{photo.name} explained by {explained.numbers['run']}", fontsize=10,
                    y=1 - 0.15 / total_height, va="top")
    return figure
