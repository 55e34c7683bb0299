"""Figures of the auxiliary-classifier selection: per-layer evidence, the ablation bars, the comparison."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from aelab.selection.choice import short_name
from aelab.selection.evidence import LayerEvidence, SelectionEvidence
from aelab.viz.overlays import stretch_channels, to_hwc

STRETCH_NOTE = "each layer's pictures stretched together"
"""How the group pictures are shown: eq. 5 averages a layer's channel pictures towards grey, so a layer's pictures
share one colour stretch (:func:`aelab.viz.overlays.stretch_channels`) that keeps them comparable."""


def shown_pictures(item: LayerEvidence) -> list[torch.Tensor]:
    """A layer's group pictures, positive images' then negative images', stretched together for display."""
    return list(stretch_channels(torch.stack([*item.positive, *item.negative])))


def score_text(item: LayerEvidence) -> str:
    """``"0.91 (shuffled 0.50 ± 0.04)"``: the separability score next to its control."""
    s = item.separability
    return f"{s.score:.2f} (shuffled {s.control_mean:.2f} ± {s.control_std:.2f})"


def layer_strip(item: LayerEvidence, classes: tuple[str, str] = ("negative", "positive"),
                inches: float = 1.3) -> Figure:
    """One row: the group pictures of the shown positive images, then of the negative ones (stretched together:
    :func:`shown_pictures`), titled by class."""
    names = [classes[1]] * len(item.positive) + [classes[0]] * len(item.negative)
    pictures = list(zip(names, shown_pictures(item)))
    figure, axes = plt.subplots(1, len(pictures), figsize=(inches * len(pictures), inches + 0.3), squeeze=False)
    for ax, (name, picture) in zip(axes[0], pictures):
        ax.imshow(to_hwc(picture))
        ax.set_title(name, fontsize=7, color="tab:green" if name == classes[1] else "tab:red")
        ax.axis("off")
    figure.suptitle(f"{short_name(item.layer)}: neuron groups (r = 1, {STRETCH_NOTE}) · separability "
                    f"{score_text(item)}", fontsize=8)
    figure.tight_layout()
    return figure


def evidence_figure(evidence: SelectionEvidence, inches: float = 1.4) -> Figure:
    """All layers at once: a row per layer (its positive then negative images' group pictures, stretched together:
    :func:`shown_pictures`), the input images on top, each row titled with the layer's separability score and
    control."""
    n_pos, n_neg = len(evidence.positive_pixels), len(evidence.negative_pixels)
    columns, rows = n_pos + n_neg, len(evidence.layers) + 1
    figure, axes = plt.subplots(rows, columns, figsize=(inches * columns, inches * rows + 0.4), squeeze=False)
    negative, positive = evidence.classes
    inputs = [(positive, p) for p in evidence.positive_pixels] + [(negative, p) for p in evidence.negative_pixels]
    for ax, (name, picture) in zip(axes[0], inputs):
        ax.imshow(to_hwc(picture))
        ax.set_title(f"input · {name}", fontsize=7)
    for row, item in zip(axes[1:], evidence.layers):
        for ax, picture in zip(row, shown_pictures(item)):
            ax.imshow(to_hwc(picture))
        row[0].set_title(f"{short_name(item.layer)} · {score_text(item)}", fontsize=7, loc="left")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(f"neuron groups of {positive} (left) vs {negative} (right) images per layer ({STRETCH_NOTE})",
                    fontsize=9)
    figure.tight_layout()
    return figure


def ablation_chart(rows: Sequence[dict], title: str | None = None) -> Figure:
    """Bars: cross-validated accuracy (± std over folds) per setting, with paper 004's accuracy beside each
    setting the paper has (GoogLeNet on Twitter five-agree; other backbones and data have no paper bar)."""
    x = np.arange(len(rows))
    figure, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.0))
    ax.bar(x - 0.2, [r["accuracy"] for r in rows], width=0.4, yerr=[np.nan_to_num(r["accuracy_std"]) for r in rows],
           capsize=3, color="tab:blue", label="measured (mean ± std over folds)")
    paper = [r["paper_accuracy"] / 100 if r["paper_accuracy"] is not None else np.nan for r in rows]
    if not all(np.isnan(paper)):
        ax.bar(x + 0.2, paper, width=0.4, color="tab:orange", label="paper 004 (GoogLeNet, Twitter five-agree)")
    ax.set_xticks(x, [r["setting"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("accuracy")
    low = min([r["accuracy"] for r in rows] + [p for p in paper if not np.isnan(p)])
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "auxiliary-classifier ablation (cross-validated accuracy)", fontsize=10)
    figure.tight_layout()
    return figure
