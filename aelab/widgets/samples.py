"""A slider to browse SynthAE images with their labels and planted factors."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from aelab.data.synthetic import SynthAE
from aelab.viz.plots import label_caption

SHOWN_FACTORS = ("composition", "harmony", "shape", "effects", "blur", "noise", "quality")


def sample_browser(data: SynthAE) -> widgets.VBox:
    """Slider over the images; each shows its subject box, labels, main factors and comments."""
    slider = widgets.IntSlider(value=0, min=0, max=len(data) - 1, description="image")
    output = widgets.Output()

    def show(index: int) -> None:
        sample = data[index]
        with output:
            output.clear_output(wait=True)
            figure, ax = plt.subplots(figsize=(3.5, 3.5))
            ax.imshow(sample.load_image())
            x0, y0, x1, y1 = (v * data.size for v in sample.factors["subject_box"])
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="white", linestyle="--"))
            ax.set_title(label_caption(sample.labels).replace("\n", " · "), fontsize=8)
            ax.axis("off")
            plt.show()
            for key in SHOWN_FACTORS:
                print(f"{key:>12}: {sample.factors[key]}")
            print("    comments:", " | ".join(sample.labels["comments"]))

    slider.observe(lambda change: show(change["new"]), names="value")
    show(0)
    return widgets.VBox([slider, output])
