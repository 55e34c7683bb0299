"""Check 4: the eq. 3 spatial grid (paper 004; :mod:`aelab.viz.spatial`) singles out the subject SynthAE planted.

For each held-out image and layer the grid's cells are the eq. 3 blends of each cell's ``top_k`` strongest channel
icons (:func:`aelab.viz.spatial.blend_cells`; the paper's blend of every channel averages to grey). A cell is
*over the subject* when its centre lies in the image's subject box, *background* when it does not touch the box
(cells on the edge of the box count as neither). With ``m`` the mean background cell image and ``d(c)`` the RMS
difference of cell ``c`` from ``m``, the image's contrast is ``mean_subject d / mean_background d``: how far the
subject's cells stand from the background, in units of the background's own spread. Images with no subject cell
or fewer than two background cells are left out.

Value: the median contrast over images at each layer (the check's value is the smallest over ``layers``).
Control: the same with each image's box swapped for another image's (a box where no subject is). Passes when every
layer's median is at least ``ratio`` (2 by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from aelab.errors import ConfigError
from aelab.viz.faithfulness.data import HeldOut
from aelab.viz.faithfulness.result import CheckResult
from aelab.viz.overlays import normalised_mosaic
from aelab.viz.probe import layer_activations, probe_layers
from aelab.viz.render import frozen
from aelab.viz.render_settings import RenderSettings
from aelab.viz.spatial import BLEND_LABEL, SpatialGrid, blend_cells, cell_weights, layer_cell_size

RATIO = 2.0
TOP_K = 3
CHUNK = 32


def middle_layers(model: nn.Module) -> list[str]:
    """The probe layers in the middle third of the model's list (at least one)."""
    names = probe_layers(model)
    third = len(names) / 3
    middle = names[int(third):max(int(third) + 1, int(2 * third))]
    return middle or names[len(names) // 2:len(names) // 2 + 1]


def cell_roles(shape: tuple[int, int], activation_size: tuple[int, int], cell: int,
               box: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean ``(rows, cols)`` masks of the cells over the subject (centre in ``box``) and of the background
    cells (no overlap with ``box``); ``box`` is normalised (x0, y0, x1, y1)."""
    rows, cols = shape
    height, width = activation_size
    y0 = torch.arange(rows) * cell / height
    y1 = torch.clamp((torch.arange(rows) + 1) * cell, max=height) / height
    x0 = torch.arange(cols) * cell / width
    x1 = torch.clamp((torch.arange(cols) + 1) * cell, max=width) / width
    bx0, by0, bx1, by1 = box
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    inside = ((cy >= by0) & (cy <= by1))[:, None] & ((cx >= bx0) & (cx <= bx1))[None, :]
    overlap = ((y1 > by0) & (y0 < by1))[:, None] & ((x1 > bx0) & (x0 < bx1))[None, :]
    return inside, ~overlap


def roles_measurable(subject: torch.Tensor, background: torch.Tensor) -> bool:
    """Whether :func:`contrast` can be computed for these cell roles: a subject cell and two background cells."""
    return bool(subject.any()) and int(background.sum()) >= 2


def contrast(grid: torch.Tensor, subject: torch.Tensor, background: torch.Tensor) -> float:
    """``mean_subject d / mean_background d`` of cell images ``(rows, cols, 3, h, w)`` (module docstring); NaN
    when there is no subject cell or fewer than two background cells; ∞ when the background has no spread."""
    if not roles_measurable(subject, background):
        return float("nan")
    cells = grid.flatten(2).float()
    mean = cells[background].mean(dim=0)
    distance = (cells - mean).pow(2).mean(dim=-1).sqrt()
    inside, outside = float(distance[subject].mean()), float(distance[background].mean())
    if outside <= 1e-9:
        return float("inf") if inside > 1e-9 else float("nan")
    return inside / outside


def grid_contrast(grid: SpatialGrid, box: Sequence[float]) -> float:
    """:func:`contrast` of a grid's cells (eq. 3 blends, or an activation grid's optimised cells) with the cells
    over ``box`` (normalised x0, y0, x1, y1) as the subject and those clear of it as the background."""
    return contrast(grid.grid, *cell_roles(grid.shape, grid.activation_size, grid.cell, box))


def contrast_defined(grid: SpatialGrid, box: Sequence[float]) -> bool:
    """Whether the grid's geometry lets :func:`grid_contrast` measure ``box`` (:func:`roles_measurable`: a small
    box between coarse cells, or a box over most of the frame, cannot be; a grid whose cells are all alike gives
    NaN all the same)."""
    return roles_measurable(*cell_roles(grid.shape, grid.activation_size, grid.cell, box))


def shown_pair(grids: Mapping[int, SpatialGrid], boxes: Sequence[Sequence[float]], first: Sequence[int] | torch.Tensor,
               second: Sequence[int] | torch.Tensor) -> tuple[int, int]:
    """The images a figure shows side by side: the first index of ``first`` and of ``second`` (in their order,
    among those ``grids`` holds) whose grids have a contrast both for their own subject box and for the other's
    (the figure's chance); failing that, the first pair whose own boxes have one; else the first of each.
    ``grids`` maps an image index to its grid at the shown layer; the grid's geometry alone decides, so an eq. 3
    blend grid stands for the activation grid of the same image."""
    first, second = [int(i) for i in first], [int(i) for i in second]  # a tensor's elements hash by identity
    pairs = [(a, b) for a in first if a in grids for b in second if b in grids]
    both = [(a, b) for a, b in pairs if all(contrast_defined(grids[i], boxes[k]) for i in (a, b) for k in (a, b))]
    own = [(a, b) for a, b in pairs if all(contrast_defined(grids[i], boxes[i]) for i in (a, b))]
    a, b = (both or own or [(first[0], second[0])])[0]
    return int(a), int(b)


@dataclass
class LayerContrast:
    """One layer: the median contrast over images, the control's, and the number of images that counted."""

    layer: str
    median: float
    control: float
    images: int
    passed: bool


@dataclass
class SpatialContrast(CheckResult):
    """:class:`CheckResult` of check 4, one row per layer."""

    rows: list[LayerContrast] = field(default_factory=list)
    top_k: int | None = TOP_K


def image_grids(model: nn.Module, pixels: torch.Tensor, layer: str, atlas: torch.Tensor, top_k: int | None,
                cell: int | None = None) -> list[SpatialGrid]:
    """Eq. 3 grids (blend of each cell's ``top_k`` channel icons) of RGB images ``pixels`` (N, 3, H, W)."""
    cell = layer_cell_size(model, layer) if cell is None else int(cell)
    grids = []
    with frozen(model):
        for start in range(0, len(pixels), CHUNK):
            acts = layer_activations(model, pixels[start:start + CHUNK], layer, normalize=True).float().cpu()
            for act in acts:
                weights = cell_weights(act, cell)
                grids.append(SpatialGrid(blend_cells(weights, atlas, top_k), weights, cell, layer,
                                         tuple(act.shape[-2:]), "blend", BLEND_LABEL))
    return grids


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return float(np.median(values)) if values else float("nan")


def spatial_contrast(model: nn.Module, data: HeldOut, layers: Sequence[str] | None = None, *,
                     settings: RenderSettings = RenderSettings(), atlases: Mapping[str, torch.Tensor] | None = None,
                     cache_dir: str | Path | None = None, top_k: int | None = TOP_K, ratio: float = RATIO,
                     cell: int | None = None) -> SpatialContrast:
    """Check 4 (see the module docstring) at ``layers`` (default :func:`middle_layers`). ``atlases``: each layer's
    channel images (rendered with ``settings``, cached in ``cache_dir``, when missing)."""
    if len(data) < 2:
        raise ConfigError("spatial contrast images", len(data), "at least 2 images (the control swaps boxes)")
    rows = []
    swapped = data.boxes[1:] + data.boxes[:1]
    for layer in (middle_layers(model) if layers is None else list(layers)):
        from aelab.viz.atlas import given_or_layer_atlas  # heavy (run loading, checkpoints): only when needed

        atlas = given_or_layer_atlas(model, layer, settings, atlases, cache_dir)
        grids = image_grids(model, data.pixels, layer, atlas, top_k, cell)
        real, control = [], []
        for grid, box, other in zip(grids, data.boxes, swapped):
            real.append(grid_contrast(grid, box))
            control.append(grid_contrast(grid, other))
        median = _median(real)
        rows.append(LayerContrast(layer, median, _median(control), sum(v == v for v in real), median >= ratio))
    value = min((r.median for r in rows if r.median == r.median), default=float("nan"))
    control = max((r.control for r in rows), default=float("nan"))
    return SpatialContrast(
        name=f"spatial grid, subject vs background (eq. 3, top {top_k} channels)" if top_k else
        "spatial grid, subject vs background (eq. 3)", value=value, chance=control,
        criterion=f"≥ {ratio:g}× the background spread at every layer", passed=all(r.passed for r in rows),
        rows=rows, top_k=top_k)


def spatial_contrast_figure(image: torch.Tensor, grid: SpatialGrid, box: Sequence[float] | None = None,
                            result: SpatialContrast | None = None, inches: float = 3.2) -> Figure:
    """The input image beside its eq. 3 grid shown as a normalised blend (:func:`normalised_mosaic`), the subject
    box drawn on both; the title says the layer, the blend and (given ``result``) the check's line."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    figure, axes = plt.subplots(1, 2, figsize=(2 * inches, inches + 0.5))
    pictures = [image.detach().float().clamp(0, 1).cpu(), normalised_mosaic(grid)]
    names = ["input", f"layer {grid.layer}:\n{grid.label},\neach colour channel stretched"]
    # the mosaic's cells span rows·cell positions, a little more than the map when cell does not divide it
    (rows, cols), (m, n) = grid.shape, grid.activation_size
    scales = [(1.0, 1.0), (n / (cols * grid.cell), m / (rows * grid.cell))]
    for ax, picture, name, (sx, sy) in zip(axes, pictures, names, scales):
        height, width = picture.shape[-2:]
        ax.imshow(picture.permute(1, 2, 0).numpy())
        ax.set_title(name, fontsize=7)
        ax.axis("off")
        if box is not None:
            x0, y0, x1, y1 = box
            ax.add_patch(Rectangle((x0 * sx * width - 0.5, y0 * sy * height - 0.5), (x1 - x0) * sx * width,
                                   (y1 - y0) * sy * height, fill=False, edgecolor="white", linewidth=1.2))
    if result is not None:
        figure.suptitle(result.describe(), fontsize=8)
    figure.tight_layout()
    return figure
