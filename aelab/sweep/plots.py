"""One bar chart per metric of a collected sweep: mean over seeds with ± std error bars, the paper's number as a
marker where there is one."""

from __future__ import annotations

import re
from pathlib import Path

from aelab.sweep.collect import Collected, _value_text


def metric_plots(collected: Collected, folder: Path) -> list[Path]:
    """Write ``folder/<metric>.png`` for each metric and return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    labels = [" ".join(_value_text(v) for v in row.axes.values()) or "all" for row in collected.rows]
    paths = []
    for metric in collected.metrics:
        means = [row.mean(metric) for row in collected.rows]
        stds = [row.std(metric) or 0.0 for row in collected.rows]
        figure, axis = plt.subplots(figsize=(max(4.0, 0.9 * len(labels) + 1.5), 3.2))
        positions = range(len(labels))
        axis.bar(positions, [m if m is not None else 0.0 for m in means], yerr=stds, capsize=4, color="#4c72b0",
                 label="this sweep (mean ± std over seeds)")
        papers = [(i, row.paper[metric]) for i, row in enumerate(collected.rows) if metric in row.paper]
        if papers:
            axis.scatter(*zip(*papers), marker="D", color="#dd8452", zorder=3, label="paper")
        axis.set_xticks(list(positions), labels, rotation=30 if len(labels) > 4 else 0, ha="right"
                        if len(labels) > 4 else "center")
        axis.set_ylabel(metric)
        axis.set_title(metric)
        axis.legend(fontsize=7, loc="lower right")
        figure.tight_layout()
        path = folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", metric) + ".png")
        figure.savefig(path, dpi=90)
        plt.close(figure)
        paths.append(path)
    return paths
