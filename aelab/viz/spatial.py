"""Spatial-position grids (paper 004 eq. 3; docs/science.md §6): what a layer sees at each place of one input image.

A probe layer's activation for one image is ``t`` channels of ``m × n`` positions. It is cut into square
**cells** of ``cell × cell`` positions, ``ceil(m / cell) × ceil(n / cell)`` of them (the last row / column may be
smaller when ``cell`` does not divide the map). By default ``cell`` is the paper's ``l``, the layer's kernel size:
the largest ``kernel_size`` of the ``Conv2d`` modules inside the probed module (:func:`layer_cell_size`; 3 for
the tiny net, VGG and ResNet stages, 1 when the module holds no convolution); pass ``cell=1`` for one cell per
position (Olah's activation grid resolution).

Two ways to show a cell, and every figure says which one it shows:

- **Blend of channel icons** (:func:`spatial_grid`, label :data:`BLEND_LABEL`), the paper's cheap approximation:
  ``q_ij = Σ_k P^k · w_ij^k`` where ``P^k`` is channel ``k``'s visualisation (the layer's atlas) and ``w_ij^k`` is
  channel ``k``'s mean activation over the positions of cell ``(i, j)``, clipped at 0 (eq. 3 weights are post-ReLU
  activations). The weights of a cell are divided by their sum (a convex combination), so a cell is an image in
  the atlas's value range whatever the activation scale; a cell where every channel is silent has no blend and
  is drawn mid-grey (0.5). ``top_k`` keeps only each cell's ``k`` strongest channels (all of them by default, as
  the paper; blending hundreds of icons tends towards a uniform mean colour).
- **Activation grid** (:func:`activation_grid`, label :data:`ACTIVATION_LABEL`): each cell's activation vector
  ``w_ij`` (C,) is used as a direction objective and one image is optimised per cell, all cells in one batch
  (``render(model, direction(layer, vectors), settings)``) — more faithful, far costlier. Silent cells are not
  rendered (grey).

Images given to these functions are the model's input (already transformed); pass ``normalize=True`` for RGB in
[0, 1] (see :func:`aelab.viz.probe.layer_activations`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from aelab.viz.probe import layer_activations, probe_module

BLEND_LABEL = "blend of channel icons (paper 004 eq. 3)"
ACTIVATION_LABEL = "activation grid (optimised per cell)"
SILENT_CELL_VALUE = 0.5


@dataclass
class SpatialGrid:
    """A grid of cell images for one input image and one layer.

    grid: ``(rows, cols, 3, h, w)`` cell images; weights: ``(rows, cols, C)`` each cell's (clipped, un-normalised)
    mean activation vector; cell: positions per cell side; activation_size: the layer's ``(m, n)``;
    method: ``"blend"`` or ``"activation"``; label: what the figure should say it shows.
    """

    grid: torch.Tensor
    weights: torch.Tensor
    cell: int
    layer: str
    activation_size: tuple[int, int]
    method: str
    label: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return tuple(self.grid.shape[:2])

    def mosaic(self) -> torch.Tensor:
        """The cells tiled into one ``(3, rows·h, cols·w)`` image."""
        rows, cols, channels, h, w = self.grid.shape
        return self.grid.permute(2, 0, 3, 1, 4).reshape(channels, rows * h, cols * w)


def layer_cell_size(model: nn.Module, layer: str) -> int:
    """The paper's ``l`` for probe ``layer``: the largest Conv2d kernel side inside its module (1 if none)."""
    module = probe_module(model, layer)
    sizes = [max(m.kernel_size) for m in module.modules() if isinstance(m, nn.Conv2d)]
    return max(sizes, default=1)


def grid_shape(height: int, width: int, cell: int) -> tuple[int, int]:
    """``(rows, cols)`` of cells of side ``cell`` covering an ``height × width`` map."""
    if int(cell) != cell or cell < 1:
        raise ValueError(f"cell must be a positive number of positions, got {cell!r}")
    return math.ceil(height / cell), math.ceil(width / cell)


def cell_weights(activation: torch.Tensor, cell: int) -> torch.Tensor:
    """``(rows, cols, C)``: mean activation of each channel over each cell's positions, clipped at 0.

    ``activation``: one image's ``(C, m, n)``. Cells at the bottom / right edge may hold fewer positions.
    """
    if activation.dim() != 3:
        raise ValueError(f"cell_weights expects one image's activation (C, m, n), got {tuple(activation.shape)}")
    channels, height, width = activation.shape
    rows, cols = grid_shape(height, width, cell)
    act = activation.detach().float().clamp(min=0)
    # ceil_mode average pooling averages partial edge cells over the positions they hold
    pooled = torch.nn.functional.avg_pool2d(act[None], kernel_size=cell, stride=cell, ceil_mode=True)[0]
    assert pooled.shape[-2:] == (rows, cols)
    return pooled.permute(1, 2, 0).contiguous()


def blend_cells(weights: torch.Tensor, atlas: torch.Tensor, top_k: int | None = None) -> torch.Tensor:
    """Eq. 3 per cell: ``q = Σ_k P^k · w^k / Σ_k w^k`` → ``(rows, cols, 3, h, w)``.

    ``weights``: ``(rows, cols, C)`` non-negative; ``atlas``: ``(C, 3, h, w)`` channel visualisations ``P^k``.
    ``top_k``: keep each cell's ``k`` largest weights only. Cells whose weights are all zero are mid-grey.
    """
    if weights.dim() != 3:
        raise ValueError(f"weights must be (rows, cols, C), got {tuple(weights.shape)}")
    if atlas.dim() != 4:
        raise ValueError(f"atlas must be (C, 3, h, w) channel images, got {tuple(atlas.shape)}")
    if weights.shape[-1] != atlas.shape[0]:
        raise ValueError(f"the layer has {weights.shape[-1]} channels but the atlas holds {atlas.shape[0]} images; "
                         "use the atlas of the same layer and model")
    if (weights < 0).any():
        raise ValueError("blend weights must be non-negative (clip activations at 0 first)")
    weights = weights.float()
    if top_k is not None and top_k < weights.shape[-1]:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        kept = torch.zeros_like(weights)
        values, index = weights.topk(top_k, dim=-1)
        weights = kept.scatter(-1, index, values)
    total = weights.sum(dim=-1, keepdim=True)
    share = weights / total.clamp(min=1e-12)
    atlas = atlas.float().to(weights.device)
    blend = torch.einsum("rck,kdhw->rcdhw", share, atlas)
    silent = (total[..., 0] <= 0)
    blend[silent] = SILENT_CELL_VALUE
    return blend


def _one_image(images: torch.Tensor) -> torch.Tensor:
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[0] != 1:
        raise ValueError(f"a spatial grid is made for one image (3, H, W) or (1, 3, H, W), got {tuple(images.shape)}")
    return images


def _resolve_cell(model: nn.Module, layer: str, cell: int | None) -> int:
    return layer_cell_size(model, layer) if cell is None else int(cell)


def image_cell_weights(model: nn.Module, image: torch.Tensor, layer: str, cell: int | None = None,
                       normalize: bool = False) -> tuple[torch.Tensor, int, tuple[int, int]]:
    """``(weights (rows, cols, C), cell, (m, n))`` of one image at ``layer``; the model is run in eval mode."""
    cell = _resolve_cell(model, layer, cell)
    was_training = model.training
    model.eval()
    try:
        activation = layer_activations(model, _one_image(image), layer, normalize=normalize)[0].cpu()
    finally:
        model.train(was_training)
    return cell_weights(activation, cell), cell, tuple(activation.shape[-2:])


def spatial_grid(
    model: nn.Module,
    image: torch.Tensor,
    layer: str,
    atlas: torch.Tensor | None = None,
    *,
    cell: int | None = None,
    top_k: int | None = None,
    normalize: bool = False,
    settings=None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> SpatialGrid:
    """Paper 004 eq. 3 for one image: each cell blends the layer's channel icons by its activations.

    ``atlas``: the layer's channel visualisations ``(C, 3, h, w)``; when None it is computed (or loaded from the
    cache) with :func:`aelab.viz.atlas.layer_atlas` (``settings``, ``cache_dir``, ``progress``). ``cell``: positions
    per cell side (default: the layer's kernel size, :func:`layer_cell_size`). See the module docstring.
    """
    weights, cell, size = image_cell_weights(model, image, layer, cell, normalize)
    if atlas is None:
        from aelab.viz.atlas import layer_atlas

        if settings is None:
            raise ValueError("spatial_grid needs the layer's atlas, or settings= (and cache_dir=) to compute it")
        atlas = layer_atlas(model, layer, settings, cache_dir, progress=progress)
    return SpatialGrid(blend_cells(weights, atlas, top_k), weights, cell, layer, size, "blend", BLEND_LABEL)


def activation_grid(
    model: nn.Module,
    image: torch.Tensor,
    layer: str,
    settings,
    *,
    cell: int | None = None,
    cossim_power: float = 1.0,
    normalize: bool = False,
) -> SpatialGrid:
    """Olah's activation grid for one image: every non-silent cell's activation vector is a direction objective,
    all optimised in one ``render`` call (``settings``: :class:`aelab.viz.render.RenderSettings`; the cells come
    out at ``settings.size``). ``cossim_power`` rewards matching the direction, not only a large activation
    (see :func:`aelab.viz.objectives.direction`)."""
    from aelab.viz.objectives import direction
    from aelab.viz.render import render

    weights, cell, size = image_cell_weights(model, image, layer, cell, normalize)
    rows, cols, channels = weights.shape
    vectors = weights.reshape(rows * cols, channels)
    alive = (vectors.sum(dim=1) > 0).nonzero().flatten()
    side = int(settings.size)
    grid = torch.full((rows * cols, 3, side, side), SILENT_CELL_VALUE)
    if len(alive):
        images = render(model, direction(layer, vectors[alive], cossim_power=cossim_power), settings)
        grid[alive] = images.detach().float().cpu()
    return SpatialGrid(grid.reshape(rows, cols, 3, side, side), weights, cell, layer, size, "activation",
                       ACTIVATION_LABEL)
