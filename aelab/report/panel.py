"""A single PNG of a demo's key figures (one tile per notebook), for the README and for slides."""

from __future__ import annotations

import json
from pathlib import Path

from aelab.report.plan import DEMO_STEPS


def key_figure_panel(folder: str | Path, output: str | Path, columns: int = 3, width: float = 15.0) -> Path:
    """Compose the first key figure of each demo notebook in ``folder`` (a ``runs/demo/<time>`` folder) into one
    labelled image at ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    folder = Path(folder)
    tiles = []
    for stem, step in DEMO_STEPS.items():
        results_path = folder / stem / "results.json"
        if not results_path.exists():
            continue
        made = json.loads(results_path.read_text()).get("figures", [])
        chosen = [name for name in (*step.key_figures, *made) if name in made and (folder / stem / name).exists()]
        if chosen:
            tiles.append((f"{step.notebook}\n{step.title}", folder / stem / chosen[0]))
    rows = max(1, -(-len(tiles) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(width, width / columns * 0.8 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (title, path) in zip(axes.flat, tiles):
        axis.imshow(mpimg.imread(path))
        axis.set_title(title, fontsize=9)
    figure.suptitle("aelab demo report: key figures", fontsize=12)
    figure.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=80)
    plt.close(figure)
    return output
