"""Figures of a training run: learning curves per task, the gradient-ratio curve, confusion matrices."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from aelab.tasks import get_task
from aelab.train.runs import read_metrics


def learning_curves(folder: str | Path, tasks: list[str]) -> Figure:
    """Per task: training and validation loss, and the validation accuracy (or SRCC/mAP) by epoch."""
    rows = read_metrics(folder)
    figure, axes = plt.subplots(2, len(tasks), figsize=(4.2 * len(tasks), 6), squeeze=False)
    for column, task in enumerate(tasks):
        for split, style in (("train", "-"), ("val", "--")):
            points = [(r["epoch"] + 1, r[f"loss_{task}"]) for r in rows if r["split"] == split]
            if points:
                axes[0, column].plot(*zip(*points), style, marker="o", label=split)
        axes[0, column].set_title(f"{task}: loss")
        axes[0, column].legend()
        metric = next((m for m in ("accuracy", "srcc", "map") if any(f"{task}_{m}" in r for r in rows)), None)
        points = [(r["epoch"] + 1, r[f"{task}_{metric}"]) for r in rows if r["split"] == "val"
                  and isinstance(r.get(f"{task}_{metric}"), float)]
        if points:
            axes[1, column].plot(*zip(*points), marker="o", color="tab:green")
        axes[1, column].set_title(f"{task}: validation {metric}")
        axes[1, column].set_xlabel("epoch")
    figure.tight_layout()
    return figure


def gradient_ratio_curve(folder: str | Path, tasks: list[str]) -> Figure | None:
    """‖∇L_second‖ / ‖∇L_first‖ at each connector over training steps (paper 000: ~10x early, 2-3x late).
    None when the run recorded no gradients (single-task networks share no parameters)."""
    path = Path(folder) / "grad_norms.csv"
    if not path.exists() or path.stat().st_size == 0 or len(tasks) < 2:
        return None
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with path.open() as stream:
        for row in csv.DictReader(stream):
            series[row["group"]].append((float(row["step"]), float(row["ratio"])))
    figure, ax = plt.subplots(figsize=(7, 3.6))
    for group, points in series.items():
        ax.plot(*zip(*points), label=group)
    ax.axhline(1.0, color="grey", linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"‖∇ {tasks[1]}‖ / ‖∇ {tasks[0]}‖")
    ax.set_title("gradient-norm ratio between tasks at each connector")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


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
