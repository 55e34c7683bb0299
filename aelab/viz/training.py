"""Figures of a training run: learning curves per task, the gradient-ratio curve, confusion matrices."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from aelab.train.figures import confusion_matrices  # noqa: F401  (its home is with the training results)
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
