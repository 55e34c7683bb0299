"""Figures of rendered images: rows of images to compare side by side (e.g. pixel ascent vs readable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure


def image_rows(rows: Mapping[str, torch.Tensor], column_titles: Sequence[str] | None = None,
               title: str | None = None, inches: float = 1.6) -> Figure:
    """One row per entry of ``rows`` (label → ``(N, 3, H, W)`` images in [0, 1]), N columns."""
    count = max(len(images) for images in rows.values())
    figure, axes = plt.subplots(len(rows), count, figsize=(count * inches, len(rows) * (inches + 0.3)),
                                squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(count):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(images):
                ax.imshow(images[c].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy())
            if r == 0 and column_titles is not None and c < len(column_titles):
                ax.set_title(column_titles[c], fontsize=8)
        axes[r, 0].text(-0.08, 0.5, label, transform=axes[r, 0].transAxes, rotation=90, ha="right", va="center",
                        fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
