"""The figure of a training run's results that the trainer itself logs (TensorBoard): confusion matrices.

It lives with the training code, below :mod:`aelab.viz`, because the trainer draws it at the end of a run and the
training package must not import the visualisation package (which builds on trained runs);
:mod:`aelab.viz.training` offers it beside the learning curves."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from aelab.tasks import get_task


def confusion_matrices(results: dict[str, Any], split: str = "test") -> Figure:
    """Row-normalised confusion matrix of every classification task in ``results[split]``."""
    matrices = results[split]["confusion"]
    figure, axes = plt.subplots(1, len(matrices), figsize=(4.5 * len(matrices), 4.2), squeeze=False)
    for ax, (task, matrix) in zip(axes[0], matrices.items()):
        counts = np.asarray(matrix, dtype=float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        names = get_task(task).classes
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        for (i, j), value in np.ndenumerate(counts):
            ax.text(j, i, int(value), ha="center", va="center", fontsize=7,
                    color="white" if shares[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{task} ({split})")
    figure.tight_layout()
    return figure
