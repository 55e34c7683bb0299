"""Check 2: paper 004 Fig. 8 as a number — neuron-group images of positive images are smoother than those of
negative images, at every probe layer, for both ways of showing a group (eqs. 4–5; :mod:`aelab.viz.groups`).

For each held-out image the layer's activations are factorised into one group (eq. 4, ``r = 1``; its direction
``V``) and the group is shown

* ``paper``: eq. 5, ``S = Σ_k P^k v_k / Σ_k v_k`` from the layer's atlas ``P``
  (:func:`aelab.viz.groups.group_images`);
* ``optimised``: ``V`` rendered as a direction objective (Olah), all images' directions in one ``render`` call
  (:func:`aelab.viz.groups.render_directions`, starting where ``group_start`` says).

The i-th positive image is paired with the i-th negative one (``pairs`` of each, at least 50 by default); the
paired difference is ``roughness(negative) − roughness(positive)`` (:func:`aelab.viz.readability.roughness`) and
its one-sided p-value is Wilcoxon's signed-rank test (``scipy.stats.wilcoxon``, alternative "greater"). A
(layer, mode) passes when the mean difference is positive and ``p < alpha``; chance is the number of passes
expected when valence changes nothing (``alpha`` of the cases). The check passes when every (layer, mode) does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.stats import wilcoxon
from torch import nn

from aelab.errors import ConfigError
from aelab.viz.faithfulness.data import HeldOut
from aelab.viz.faithfulness.result import CheckResult
from aelab.viz.groups import GROUP_START, OPTIMISED_LABEL, PAPER_LABEL, factorize, group_images, render_directions
from aelab.viz.probe import layer_activations, probe_layers
from aelab.viz.readability import roughness
from aelab.viz.render import frozen
from aelab.viz.render_settings import RenderSettings

MODES = {"paper": PAPER_LABEL, "optimised": OPTIMISED_LABEL}
PAIRS = 50
ALPHA = 0.05
CHUNK = 32  # images per forward pass when collecting activations


@dataclass
class LayerSmoothness:
    """One (layer, mode): mean roughness of the positive and negative images' group images, the mean paired
    difference (negative − positive), the share of pairs whose positive image is smoother, the p-value."""

    layer: str
    mode: str
    positive: float
    negative: float
    difference: float
    smoother_share: float
    p_value: float
    passed: bool


@dataclass
class GroupSmoothness(CheckResult):
    """:class:`CheckResult` of check 2 with one row per (layer, mode), in depth order."""

    rows: list[LayerSmoothness] = field(default_factory=list)
    pairs: int = 0


def _directions(model: nn.Module, pixels: torch.Tensor, layer: str) -> torch.Tensor:
    """Each image's one-group NMF direction ``(N, C)`` at ``layer`` (eq. 4, r = 1)."""
    rows = []
    with frozen(model):
        for start in range(0, len(pixels), CHUNK):
            acts = layer_activations(model, pixels[start:start + CHUNK], layer, normalize=True).float().cpu()
            rows += [factorize(act, 1, layer=layer).channels[0] for act in acts]
    return torch.stack(rows)


def paired_test(positive: torch.Tensor, negative: torch.Tensor) -> tuple[float, float, float]:
    """``(mean difference, share of pairs with the positive smoother, one-sided p)`` of paired roughness values."""
    difference = (negative - positive).double().numpy()
    if not np.any(difference != 0):
        return 0.0, 0.0, 1.0
    p_value = float(wilcoxon(difference, alternative="greater").pvalue)
    return float(difference.mean()), float((difference > 0).mean()), p_value


def _group_pictures(model, layer, vectors, mode, settings, atlases, cache_dir, group_start) -> torch.Tensor:
    if mode == "optimised":
        return render_directions(model, layer, vectors, settings, group_start)
    from aelab.viz.atlas import given_or_layer_atlas  # heavy (run loading, checkpoints): only when needed

    return group_images(vectors.clamp(min=0), given_or_layer_atlas(model, layer, settings, atlases, cache_dir))


def group_smoothness(model: nn.Module, data: HeldOut, layers: Sequence[str] | None = None, *,
                     settings: RenderSettings = RenderSettings(), modes: Sequence[str] = tuple(MODES),
                     atlases: Mapping[str, torch.Tensor] | None = None, cache_dir: str | Path | None = None,
                     pairs: int = PAIRS, alpha: float = ALPHA, group_start: str | None = GROUP_START
                     ) -> GroupSmoothness:
    """Check 2 (see the module docstring) on ``data``'s first ``pairs`` positive and ``pairs`` negative images, at
    ``layers`` (default every probe layer). ``atlases``: each layer's channel images for the ``paper`` mode
    (rendered with ``settings``, cached in ``cache_dir``, when missing). ``group_start``: where the ``optimised``
    images start (:func:`aelab.viz.groups.render_directions`; ``None``: ``settings.start``)."""
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError("group smoothness modes", list(modes), f"some of {', '.join(MODES)}")
    positive, negative = np.flatnonzero(data.positive), np.flatnonzero(~data.positive)
    if min(len(positive), len(negative)) < pairs:
        raise ConfigError("group smoothness images", f"{len(positive)} positive, {len(negative)} negative",
                          f"at least {pairs} of each (pairs={pairs})")
    chosen = torch.from_numpy(np.concatenate([positive[:pairs], negative[:pairs]]))
    pixels = data.pixels[chosen]
    rows = []
    for layer in (probe_layers(model) if layers is None else list(layers)):
        vectors = _directions(model, pixels, layer)
        for mode in modes:
            pictures = _group_pictures(model, layer, vectors, mode, settings, atlases, cache_dir, group_start)
            rough = roughness(pictures).cpu()
            mean, share, p_value = paired_test(rough[:pairs], rough[pairs:])
            rows.append(LayerSmoothness(layer, mode, float(rough[:pairs].mean()), float(rough[pairs:].mean()), mean,
                                        share, p_value, mean > 0 and p_value < alpha))
    passes = sum(r.passed for r in rows)
    return GroupSmoothness(
        name="neuron groups, positive smoother (paper 004 Fig. 8)", value=float(passes),
        chance=alpha * len(rows), criterion=f"all {len(rows)} layer×mode with p < {alpha:g}",
        passed=passes == len(rows), rows=rows, pairs=pairs)


def layer_line(result: GroupSmoothness, layer: str) -> str:
    """One line for a figure of ``layer``'s groups: per mode, the positive and negative images' mean roughness,
    the one-sided p-value and the verdict at this layer (empty when the check did not cover the layer)."""
    rows = [r for r in result.rows if r.layer == layer]
    return "; ".join(f"{r.mode}: roughness positive {r.positive:.3g} vs negative {r.negative:.3g}, p={r.p_value:.2g} "
                     f"({'pass' if r.passed else 'FAIL'})" for r in rows)


def group_smoothness_figure(result: GroupSmoothness, inches: float = 3.6) -> Figure:
    """Roughness of positive and negative images' group images against depth, one panel per mode, each layer's
    p-value written over it; the title is the check's :meth:`~CheckResult.describe` line."""
    import matplotlib.pyplot as plt

    modes = list(dict.fromkeys(r.mode for r in result.rows))
    figure, axes = plt.subplots(1, len(modes), figsize=(inches * len(modes) * 1.3, inches), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        rows = [r for r in result.rows if r.mode == mode]
        depth = np.arange(len(rows))
        ax.plot(depth, [r.positive for r in rows], "o-", color="tab:blue", label="positive images")
        ax.plot(depth, [r.negative for r in rows], "s-", color="tab:red", label="negative images")
        for x, r in zip(depth, rows):
            ax.annotate(f"p={r.p_value:.2g}", (x, max(r.positive, r.negative)), textcoords="offset points",
                        xytext=(0, 4), ha="center", fontsize=6, color="black" if r.passed else "grey")
        ax.set_xticks(depth, [r.layer for r in rows], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("roughness of the group image")
        ax.set_title(MODES[mode], fontsize=8)
        ax.legend(fontsize=7)
    figure.suptitle(result.describe(), fontsize=8)
    figure.tight_layout()
    return figure
