"""Matplotlib figures for spatial grids, neuron groups, Grad-CAM and separability (docs/science.md §6).

Every figure's titles say the layer, the channel / group / class and the task it shows, and spatial grids say
which of the two ways the cells were made (:data:`aelab.viz.spatial.BLEND_LABEL` or ``ACTIVATION_LABEL``).
Images to *show* are RGB in [0, 1]: ``(3, H, W)`` tensors, ``(H, W, 3)`` arrays or PIL images; use
:func:`denormalize` to turn a model's (normalised) input back into one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from aelab.errors import ConfigError
from aelab.viz.cam import box_area, cam_mass_in_box, half_box, predicted_targets, target_names
from aelab.viz.groups import OPTIMISED_LABEL, PAPER_LABEL, NeuronGroups
from aelab.viz.probe import denormalize_input, model_normalization, normalize_input
from aelab.viz.separability import LayerSeparability
from aelab.viz.spatial import SpatialGrid


def denormalize(images: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """A model's normalised input ``(…, 3, H, W)`` back to RGB in [0, 1] (its own normalisation: mean / std, or
    the mean image of a run trained with ``normalization="dataset"``)."""
    return denormalize_input(images, model_normalization(model)).clamp(0, 1)


def to_hwc(image) -> np.ndarray:
    """``(H, W, 3)`` float array in [0, 1] from a tensor ``(3, H, W)``, an array or a PIL image."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if isinstance(image, torch.Tensor):
        array = image.detach().float().cpu().numpy()
        if array.ndim == 3 and array.shape[0] in (1, 3):
            array = np.moveaxis(array, 0, -1)
    else:
        array = np.asarray(image, dtype=np.float32)
        if array.max(initial=0) > 1.5:
            array = array / 255.0
    if array.ndim == 3 and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.clip(array, 0, 1)


def stretch_channels(pictures: torch.Tensor) -> torch.Tensor:
    """Pictures ``(N, 3, H, W)`` with each colour channel stretched to [0, 1] over all N together: the pictures'
    differences from one another and within each, not their common mean colour, fill the range. For pictures that
    average many channel images (paper 004 eqs. 3 and 5), whose plain values sit in a narrow band around grey; one
    stretch for a set keeps the pictures' contrasts comparable with each other."""
    pictures = pictures.detach().float().cpu()
    low = pictures.amin(dim=(0, 2, 3), keepdim=True)
    high = pictures.amax(dim=(0, 2, 3), keepdim=True)
    return (pictures - low) / (high - low).clamp(min=1e-6)


def normalised_mosaic(grid: SpatialGrid) -> torch.Tensor:
    """The eq. 3 grid's mosaic ``(3, H, W)`` with each colour channel stretched to [0, 1] over the whole mosaic (the
    "normalised blend": the cells' differences, not their common mean colour, fill the range)."""
    return stretch_channels(grid.mosaic()[None])[0]


def _resize_map(values: np.ndarray, height: int, width: int) -> np.ndarray:
    tensor = torch.as_tensor(np.asarray(values, dtype=np.float32))[None, None]
    resized = torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)
    return resized[0, 0].numpy()


def overlay(image, heat, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """``image`` with a heat map (any ``(h, w)``, resized, scaled to its max) blended over it → ``(H, W, 3)``."""
    base = to_hwc(image)
    heat = heat.detach().float().cpu().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat, dtype=float)
    heat = _resize_map(heat, *base.shape[:2])
    peak = heat.max()
    heat = heat / peak if peak > 0 else heat
    coloured = colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return (1 - alpha) * base + alpha * coloured


def draw_box(ax, box: Sequence[float], height: int, width: int, colour: str = "white") -> None:
    """Outline a normalised ``(x0, y0, x1, y1)`` box, dashed, on an axis showing a ``height × width`` picture."""
    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0 * width - 0.5, y0 * height - 0.5), (x1 - x0) * width, (y1 - y0) * height,
                           fill=False, edgecolor=colour, linewidth=1.5, linestyle="--"))


def _off(axes) -> None:
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])


# ---- spatial grids ---------------------------------------------------------------------------------------------


def spatial_grid_figure(image, grid: SpatialGrid, title: str | None = None, inches: float = 4.0) -> Figure:
    """The input (with the cell boundaries drawn) next to the grid of cell images; says which method made it."""
    base = to_hwc(image)
    rows, cols = grid.shape
    figure, (left, right) = plt.subplots(1, 2, figsize=(2 * inches + 0.5, inches + 0.8))
    left.imshow(base)
    height, width = base.shape[:2]
    m, n = grid.activation_size
    for i in range(1, rows):
        left.axhline(i * grid.cell / m * height - 0.5, color="white", linewidth=0.8)
    for j in range(1, cols):
        left.axvline(j * grid.cell / n * width - 0.5, color="white", linewidth=0.8)
    left.set_title(f"input, {rows}×{cols} cells of {grid.cell}×{grid.cell} of {m}×{n} positions", fontsize=9)
    mosaic = grid.mosaic().permute(1, 2, 0).clamp(0, 1).numpy()
    right.imshow(mosaic)
    cell_h, cell_w = grid.grid.shape[-2:]
    for i in range(1, rows):
        right.axhline(i * cell_h - 0.5, color="black", linewidth=0.8)
    for j in range(1, cols):
        right.axvline(j * cell_w - 0.5, color="black", linewidth=0.8)
    right.set_title(grid.label, fontsize=9)
    _off([left, right])
    figure.suptitle(title or f"spatial-position grid at {grid.layer}")
    figure.tight_layout()
    return figure


# ---- neuron groups ---------------------------------------------------------------------------------------------


def groups_figure(
    image,
    groups: NeuronGroups,
    paper_images: torch.Tensor | None = None,
    optimised_images: torch.Tensor | None = None,
    *,
    image_index: int = 0,
    title: str | None = None,
    inches: float = 2.4,
) -> Figure:
    """One row per neuron group: its paper-style image (eq. 5; the groups' images stretched together,
    :func:`stretch_channels`), its optimised image (when given) and its spatial map over ``image`` (image
    ``image_index`` of the factorised set)."""
    columns = [("map", None)]
    if optimised_images is not None:
        columns.insert(0, ("optimised", optimised_images))
    if paper_images is not None:
        columns.insert(0, ("paper", paper_images))
    r = groups.n_groups
    figure, axes = plt.subplots(r, len(columns), figsize=(len(columns) * inches, r * inches + 0.7), squeeze=False)
    labels = {"paper": f"{PAPER_LABEL},\nstretched", "optimised": OPTIMISED_LABEL}
    if paper_images is not None:  # eq. 5 averages the atlas towards grey: all groups share one stretch
        columns[0] = ("paper", stretch_channels(paper_images))
    maps = groups.spatial[image_index]
    for g in range(r):
        for c, (kind, images) in enumerate(columns):
            ax = axes[g, c]
            if kind == "map":
                ax.imshow(overlay(image, maps[g], alpha=0.55, cmap="magma"))
                share = float(maps[g].sum() / maps.sum().clamp(min=1e-12))
                ax.set_title(f"group {g}: where ({share:.0%} of loading)", fontsize=8)
            else:
                ax.imshow(images[g].detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy())
                ax.set_title(f"group {g}: {labels[kind]}", fontsize=7)
    _off(axes)
    figure.suptitle(title or f"NMF neuron groups at {groups.layer or 'layer'} (r = {r}, "
                              f"relative error {groups.relative_error:.2f})", fontsize=10)
    figure.tight_layout()
    return figure


# ---- Grad-CAM ----------------------------------------------------------------------------------------------------


PREDICTED = "predicted"
"""``cam_figure(classes=PREDICTED)``: title each panel with the class the model predicts for its image."""


def _predicted_names(model: torch.nn.Module | None, images: Sequence, task: str) -> list[str]:
    """The class ``model`` predicts for each displayed image (RGB in [0, 1]) of ``task``."""
    if model is None:
        raise ConfigError("classes", PREDICTED, "class names, or model= to name the class predicted for each image")
    norm = model_normalization(model)
    names = []
    for image in images:
        pixels = torch.from_numpy(np.ascontiguousarray(to_hwc(image), dtype=np.float32)).permute(2, 0, 1)
        names += target_names(model, task, predicted_targets(model, normalize_input(pixels[None], norm), task))
    return names


def cam_figure(
    images,
    cams: torch.Tensor,
    *,
    layer: str,
    task: str,
    classes: Sequence[str] | str,
    boxes: Sequence[Sequence[float]] | None = None,
    columns: int = 6,
    inches: float = 2.0,
    title: str | None = None,
    model: torch.nn.Module | None = None,
) -> Figure:
    """Grad-CAM overlays, one panel per image; ``classes``: the class each map explains (one for all, or one per
    image), or ``"predicted"`` for maps made with ``target=None``: each panel is then titled with the class
    ``model`` predicts for its image (``images`` RGB in [0, 1], normalised as the model expects before the
    call). With ``boxes`` (normalised x0, y0, x1, y1, e.g. SynthAE's subject boxes) each box is drawn and the
    panel says the map's mass inside it against the box's area."""
    cams = cams if cams.dim() == 3 else cams[None]
    count = len(cams)
    image_list = [images] if count == 1 and not isinstance(images, (list, tuple)) and getattr(images, "ndim", 3) == 3 \
        else list(images)
    if isinstance(classes, str) and classes == PREDICTED:
        classes = [f"{name} ({PREDICTED})" for name in _predicted_names(model, image_list, task)]
    classes = [classes] * count if isinstance(classes, str) else list(classes)
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * inches, rows * (inches + 0.45) + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:count]):
        shown = overlay(image_list[i], cams[i])
        ax.imshow(shown)
        label = f"{task} = {classes[i]}"
        if boxes is not None:
            draw_box(ax, boxes[i], *shown.shape[:2])
            mass = cam_mass_in_box(cams[i], boxes[i])
            inside = "empty map" if np.isnan(mass) else f"in box {mass:.0%}"
            label += f"\n{inside} (area {box_area(boxes[i]):.0%})"
        ax.set_title(label, fontsize=8)
    figure.suptitle(title or f"Grad-CAM of the {task} head at {layer}", fontsize=10)
    figure.tight_layout()
    return figure


def spliced_check_figure(image, cams: Mapping[str, torch.Tensor], *, layer: str, task: str,
                         left: str = "negative", right: str = "positive", inches: float = 3.0) -> Figure:
    """Paper 004's spliced check: the spliced image and, per class, its Grad-CAM with the share of mass on each
    half (``left`` / ``right`` name what each half shows)."""
    figure, axes = plt.subplots(1, 1 + len(cams), figsize=((1 + len(cams)) * inches, inches + 0.9), squeeze=False)
    axes = axes[0]
    base = to_hwc(image)
    axes[0].imshow(base)
    axes[0].axvline(base.shape[1] / 2 - 0.5, color="white", linewidth=1)
    axes[0].set_title(f"{left} | {right}", fontsize=9)
    for ax, (name, cam) in zip(axes[1:], cams.items()):
        cam = cam[0] if cam.dim() == 3 else cam
        ax.imshow(overlay(base, cam))
        share = cam_mass_in_box(cam, half_box("left"))
        where = "empty map" if np.isnan(share) else f"left {share:.0%} | right {1 - share:.0%}"
        ax.set_title(f"{task} = {name}\n{where}", fontsize=9)
    _off(axes)
    figure.suptitle(f"spliced-image check (paper 004 Fig. 6): Grad-CAM of {task} at {layer}", fontsize=10)
    figure.tight_layout()
    return figure


# ---- separability ------------------------------------------------------------------------------------------------


def separability_chart(results: Sequence[LayerSeparability], *, classes: tuple[str, str] = ("a", "b"),
                       title: str | None = None) -> Figure:
    """Bars per layer: the cross-validated separability score of two classes' neuron groups, next to its
    shuffled-label control (mean ± std); chance (0.5) dashed."""
    if not results:
        raise ValueError("separability_chart needs at least one layer's result")
    layers = [r.layer or f"layer {i}" for i, r in enumerate(results)]
    x = np.arange(len(results))
    figure, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(results) + 2), 3.8))
    ax.bar(x - 0.2, [r.score for r in results], width=0.4, color="tab:blue", label="neuron groups")
    ax.bar(x + 0.2, [r.control_mean for r in results], width=0.4, color="lightgrey",
           yerr=[r.control_std for r in results], capsize=3, label="shuffled labels (mean ± std)")
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(x, layers, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("cross-validated balanced accuracy")
    ax.legend(fontsize=8, loc="lower right")
    representation = results[0].representation
    groups = "r = 1 per image" if representation == "image" else f"{results[0].n_groups} shared groups"
    ax.set_title(title or f"separability of {classes[0]} vs {classes[1]} neuron groups per layer\n"
                          f"({groups}; cross-validated logistic regression)", fontsize=10)
    figure.tight_layout()
    return figure
