"""Neuron groups (paper 004 eqs. 4–5; docs/science.md §6): non-negative matrix factorisation of a layer's activations.

For one image (or a set of images) the activations of probe ``layer`` — ``t`` channels of ``m × n`` positions,
non-negative after a ReLU — are flattened into ``B`` ((images·m·n) × t) and factorised with scikit-learn's
``NMF`` as ``B ≈ U · V`` with ``r`` groups: ``U`` ((images·m·n) × r) says *where* each group is active (returned
reshaped to ``(images, r, m, n)``: the group's spatial map per image), ``V`` (r × t) *which channels* form each
group. NMF fixes ``U·V`` only: a group may be scaled in ``U`` by any ``s`` and in ``V`` by ``1/s``. We fix the
scale so that every row of ``V`` has unit Euclidean norm (``U`` takes the scale, so maps are in activation units).

Each group is shown two ways (both offered, as docs/science.md §6 asks):

- **paper** (eq. 5): ``S = Σ_k P^k · v_k`` from the layer's atlas ``P`` (:func:`group_images`); with
  ``normalize=True`` (default) the weights are divided by their sum (``S = Σ_k P^k v_k / Σ_k v_k``) so that ``S``
  is an image in the atlas's value range; ``normalize=False`` is eq. 5 literally (its scale is arbitrary, see above).
- **optimised** (Olah): the group direction ``V_g`` itself is the objective, all groups in one ``render`` call
  (:func:`render_directions`, :func:`render_groups`). A direction is a whole image's group, so, like a class image,
  it starts from the flat colour it scores highest with the speckle it scores highest (:data:`GROUP_START`,
  :mod:`aelab.viz.start`). From Lucid's grey start the optimised groups of the SynthAE reference run came out rough
  everywhere (0.16–0.39) but no rougher for negative images than for positive ones at any layer; with this start
  those at ``emotion.stage1`` are (roughness 0.27 against 0.18, the positive one smoother in 72 % of 50 pairs).
  The start is a parameter of its own (``start``), not ``settings.start``: the settings are shared with the
  layer's atlas, which keeps its own start.

The quality of the factorisation is reported as the relative Frobenius error ``‖B − UV‖ / ‖B‖``
(:attr:`NeuronGroups.relative_error`). Negative inputs (a layer not followed by a ReLU) are clipped at 0 first,
and the share of the activation's energy removed by that clipping is reported too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from aelab.errors import UnknownNameError
from aelab.viz.probe import layer_activations

if TYPE_CHECKING:
    from aelab.viz.render_settings import RenderSettings

GROUP_START = "best_colour_grain"
"""Where optimised group images start (a name of :data:`aelab.viz.start.STARTS`; see the module docstring)."""

PAPER_LABEL = "Σ P^k·v_k (paper 004 eq. 5)"
OPTIMISED_LABEL = "direction optimised (Olah)"


@dataclass
class NeuronGroups:
    """NMF of ``images`` activations at one layer into ``r`` groups.

    spatial: ``(images, r, m, n)`` group maps ``U``; channels: ``(r, C)`` group directions ``V`` (unit-norm rows);
    relative_error: ``‖B − UV‖_F / ‖B‖_F``; clipped_energy: share of ``‖activation‖²`` removed by clipping at
    0.
    Groups are ordered by their total spatial mass (largest first).
    """

    spatial: torch.Tensor
    channels: torch.Tensor
    relative_error: float
    clipped_energy: float
    layer: str = ""

    @property
    def n_groups(self) -> int:
        return int(self.channels.shape[0])

    def reconstruction(self) -> torch.Tensor:
        """``U·V`` back in activation layout ``(images, C, m, n)``."""
        return torch.einsum("irmn,rc->icmn", self.spatial, self.channels)


def _as_activations(activations: torch.Tensor | np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(activations).detach().float().cpu()
    if tensor.dim() == 3:
        tensor = tensor[None]
    if tensor.dim() != 4:
        raise ValueError(f"activations must be (C, m, n) or (images, C, m, n), got {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError("activations contain NaN or infinite values")
    return tensor


def _rank_one(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The optimal rank-1 non-negative factorisation ``u vᵀ`` of a non-negative matrix (Frobenius loss).

    By Perron–Frobenius the Gram matrix ``G = BᵀB ≥ 0`` has a non-negative leading eigenvector ``v``, and with
    ``u = Bv ≥ 0`` the pair is the best rank-1 approximation of all (Eckart–Young), so it is also the global
    optimum of rank-1 NMF. The eigenvector is taken from the smaller of ``BᵀB`` and ``BBᵀ``; when the top
    eigenvalue is repeated, the solver may return a mixed-sign vector, and power iteration from its absolute
    value (which stays non-negative) moves it into the leading eigenspace.
    """
    transpose = matrix.shape[0] < matrix.shape[1]
    work = matrix.T if transpose else matrix  # (rows, k) with k the smaller side
    gram = work.T @ work
    vector = np.linalg.eigh(gram)[1][:, -1]
    vector = vector if vector.sum() >= 0 else -vector
    if vector.min() < -1e-9 * np.abs(vector).max():
        vector = np.abs(vector)
        for _ in range(1000):
            step = gram @ vector
            step /= max(np.linalg.norm(step), 1e-300)
            if np.linalg.norm(step - vector) < 1e-12:
                break
            vector = step
    vector = np.clip(vector, 0, None)
    vector /= max(np.linalg.norm(vector), 1e-300)
    other = work @ vector  # the other factor, already carrying the scale
    if transpose:  # vector is u (unit), other = Bᵀu is v
        return vector[:, None], other[None]
    return other[:, None], vector[None]


def factorize(
    activations: torch.Tensor | np.ndarray,
    n_groups: int = 1,
    *,
    seed: int = 0,
    max_iter: int = 1000,
    tol: float = 1e-5,
    method: str = "auto",
    layer: str = "",
) -> NeuronGroups:
    """Eq. 4: ``B ≈ U·V`` with ``n_groups`` groups for activations ``(C, m, n)`` or ``(images, C, m, n)``.

    ``method="sklearn"``: scikit-learn ``NMF`` (Frobenius loss, coordinate descent, NNDSVDa initialisation —
    deterministic for a ``seed``). ``"auto"`` (default) uses it for two or more groups and, for one group (the
    paper's r = 1), the closed-form global optimum of the same objective (:func:`_rank_one`; sklearn's iterative
    solver reaches the same error, more slowly). See the module docstring for scaling and ordering.
    """
    if method not in ("auto", "sklearn"):
        raise UnknownNameError("NMF method", method, ["auto", "sklearn"])
    acts = _as_activations(activations)
    images, channels, height, width = acts.shape
    if int(n_groups) != n_groups or not 1 <= n_groups <= min(channels, images * height * width):
        raise ValueError(f"n_groups must be between 1 and min(channels={channels}, positions={images * height * width})"
                         f", got {n_groups!r}")
    total_energy = float((acts ** 2).sum())
    clipped = acts.clamp(min=0)
    clipped_energy = 0.0 if total_energy == 0 else 1.0 - float((clipped ** 2).sum()) / total_energy
    matrix = clipped.permute(0, 2, 3, 1).reshape(-1, channels).double().numpy()  # (positions, C)
    norm = float(np.linalg.norm(matrix))
    if norm == 0:
        u = np.zeros((matrix.shape[0], n_groups))
        v = np.full((n_groups, channels), 1 / np.sqrt(channels))
        error = 0.0
    elif n_groups == 1 and method == "auto":
        u, v = _rank_one(matrix)
        error = float(np.linalg.norm(matrix - u @ v) / norm)
    else:
        model = NMF(n_components=int(n_groups), init="nndsvda", solver="cd", max_iter=max_iter, tol=tol,
                    random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            u = model.fit_transform(matrix / norm) * norm  # fit on unit-norm data: tolerances are scale-free
        v = model.components_
        error = float(np.linalg.norm(matrix - u @ v) / norm)
    if norm > 0:
        scale = np.linalg.norm(v, axis=1)
        scale[scale == 0] = 1.0
        u, v = u * scale, v / scale[:, None]
        order = np.argsort(-u.sum(axis=0), kind="stable")
        u, v = u[:, order], v[order]
    spatial = torch.from_numpy(u).float().reshape(images, height, width, n_groups).permute(0, 3, 1, 2).contiguous()
    return NeuronGroups(spatial, torch.from_numpy(v).float(), error, clipped_energy, layer)


def neuron_groups(
    model: nn.Module,
    images: torch.Tensor,
    layer: str,
    n_groups: int = 1,
    *,
    normalize: bool = False,
    seed: int = 0,
) -> NeuronGroups:
    """Eq. 4 for a model: factorise the activations of ``images`` (one ``(3, H, W)`` or a batch) at ``layer``.

    With a batch, the groups ``V`` are shared by all images (a set of positive images, say) and ``spatial``
    holds each image's maps. ``images`` are the model's input (``normalize=True``: RGB in [0, 1]); eval mode.
    """
    if images.dim() == 3:
        images = images[None]
    was_training = model.training
    model.eval()
    try:
        acts = layer_activations(model, images, layer, normalize=normalize)
    finally:
        model.train(was_training)
    return factorize(acts, n_groups, seed=seed, layer=layer)


def group_images(channels: torch.Tensor, atlas: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Eq. 5, ``S_g = Σ_k P^k · v_gk`` for each group ``g``: ``(r, 3, h, w)`` from directions ``(r, C)`` (or one
    ``(C,)``) and the layer's atlas ``(C, 3, h, w)``. ``normalize``: divide by ``Σ_k v_gk`` (see module docstring)."""
    v = torch.as_tensor(channels).float()
    if v.dim() == 1:
        v = v[None]
    if atlas.dim() != 4 or v.dim() != 2 or v.shape[1] != atlas.shape[0]:
        raise ValueError(f"group_images needs directions (r, C) and an atlas (C, 3, h, w) of the same C; "
                         f"got {tuple(v.shape)} and {tuple(atlas.shape)}")
    if (v < 0).any():
        raise ValueError("NMF group directions are non-negative; got negative weights")
    if normalize:
        v = v / v.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return torch.einsum("rk,kdhw->rdhw", v, atlas.float())


def paper_group_images(model: nn.Module, groups: NeuronGroups, atlas: torch.Tensor | None = None, *,
                       settings=None, cache_dir: str | Path | None = None, normalize: bool = True,
                       progress: bool = False) -> torch.Tensor:
    """:func:`group_images` of ``groups``, computing (or loading) the layer's atlas when not given."""
    if atlas is None:
        from aelab.viz.atlas import layer_atlas

        if settings is None:
            raise ValueError("paper_group_images needs the layer's atlas, or settings= (and cache_dir=) to compute it")
        atlas = layer_atlas(model, groups.layer, settings, cache_dir, progress=progress)
    return group_images(groups.channels, atlas, normalize)


def render_directions(model: nn.Module, layer: str, vectors: torch.Tensor, settings: RenderSettings,
                      start: str | None = GROUP_START) -> torch.Tensor:
    """Olah's group images: each row of ``vectors`` (G, C) optimised as a ``direction`` objective at ``layer``, all
    in one ``render`` call → ``(G, 3, size, size)``. ``start`` replaces ``settings.start`` (default
    :data:`GROUP_START`); ``None`` keeps the settings' own."""
    from aelab.viz.objectives import direction
    from aelab.viz.render import render

    return render(model, direction(layer, vectors), settings if start is None else replace(settings, start=start))


def render_groups(model: nn.Module, groups: NeuronGroups, settings: RenderSettings, layer: str | None = None,
                  start: str | None = GROUP_START) -> torch.Tensor:
    """:func:`render_directions` of the groups' directions ``V`` → ``(r, 3, size, size)`` (``start`` as there:
    :data:`GROUP_START` unless ``None`` is given)."""
    layer = layer or groups.layer
    if not layer:
        raise ValueError("render_groups needs the layer the groups were computed at (groups.layer or layer=)")
    return render_directions(model, layer, groups.channels, settings, start)
