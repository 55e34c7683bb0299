"""The explorer on the shipped reference run in JupyterLab: the input image, each task's predicted class and each
panel's number are on the page and change with the layer, the channel and the image; a class visualisation renders
with its recipe match. The redraw times on layers whose atlas is already built are measured and printed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import expect

from lab_session import run_all_cells, type_into_slider

NOTEBOOK = "explorer_on_the_reference_run.ipynb"
LAYERS = ["emotion.connector4", "emotion.connector5"]
WAIT_MS = 240_000


def write_explorer_notebook(folder: Path, cache: Path) -> None:
    """A one-cell notebook opening the explorer on the reference run (cache in ``cache``, 2 render steps)."""
    source = (f"import os\nos.environ['AELAB_CACHE'] = {str(cache)!r}\n"
              "import aelab\nfrom aelab.viz.render import RenderSettings\n"
              "from aelab.widgets.explorer import Explorer\n"
              f"explorer = Explorer(aelab.reference_run(), layers={LAYERS!r}, n_images=4,\n"
              "                    settings=RenderSettings(steps=2, size=32))\n"
              "explorer.widget()\n")
    notebook = {"nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "cells": [{"cell_type": "code", "id": "explorer", "metadata": {}, "execution_count": None,
                           "outputs": [], "source": source}]}
    (folder / NOTEBOOK).write_text(json.dumps(notebook, indent=1))


CHANGED = """([before, changed]) => {
    const root = document.querySelector('.aelab-explorer');
    const read = {
        input: () => root.querySelector('img.aelab-explorer-input')?.getAttribute('src'),
        predicted: () => root.querySelector('.aelab-explorer-predicted')?.innerText,
        numbers: () => root.querySelector('.aelab-explorer-numbers')?.innerText,
        figure: () => root.querySelector('.aelab-explorer-output img')?.getAttribute('src'),
    };
    return changed.every(name => read[name]() !== before[name])
        && root.querySelectorAll('.aelab-explorer-output img').length === 1;
}"""
"""True in the page once every view named in ``changed`` differs from ``before`` and the figure is back."""

POLL_MS = 20
"""How often the page is asked whether the explorer has redrawn: fine enough for a sub-second redraw time
(Playwright's ``expect`` backs off to a second between its checks, which would round a redraw up)."""


class Views:
    """What a teacher reads on the page: the input image, the predictions, the numbers and the figure."""

    def __init__(self, explorer):
        self.page = explorer.page
        self.input = explorer.locator("img.aelab-explorer-input")
        self.predicted = explorer.locator(".aelab-explorer-predicted")
        self.numbers = explorer.locator(".aelab-explorer-numbers")
        self.figure = explorer.locator(".aelab-explorer-output img")

    def read(self) -> dict[str, str]:
        return {"input": self.input.get_attribute("src"), "predicted": self.predicted.inner_text(),
                "numbers": self.numbers.inner_text(), "figure": self.figure.get_attribute("src")}

    def wait_for_change(self, before: dict[str, str], changed: tuple[str, ...], start: float) -> float:
        """Wait until each view in ``changed`` differs from ``before`` and the figure is back, asked every
        :data:`POLL_MS`; the seconds since ``start`` (a ``time.perf_counter()`` taken before the control changed)."""
        self.page.wait_for_function(CHANGED, arg=[before, list(changed)], polling=POLL_MS, timeout=WAIT_MS)
        seconds = time.perf_counter() - start
        expect(self.figure).to_have_count(1)
        return seconds


def test_explorer_shows_the_image_its_predictions_and_numbers_and_they_follow_the_controls(page, lab, tmp_path,
                                                                                          shots):
    write_explorer_notebook(lab.root, tmp_path / "cache")
    run_all_cells(page, lab, NOTEBOOK, timeout_s=WAIT_MS / 1000)
    explorer = page.locator(".aelab-explorer")
    expect(explorer).to_be_visible(timeout=WAIT_MS)
    views = Views(explorer)
    expect(views.figure).to_have_count(1, timeout=WAIT_MS)
    expect(views.input).to_be_visible()
    first = views.read()
    assert first["input"] and first["figure"].startswith("data:image/png;base64,")
    for task in ("aesthetic", "emotion"):
        assert f"{task}:" in first["predicted"] and "(p = 0." in first["predicted"]
    assert "held-out 0" in first["predicted"]
    for number in ("activation mean", "subject box", "relative error"):  # an all-zero map has no share
        assert number in first["numbers"], (number, first["numbers"])
    explorer.scroll_into_view_if_needed()
    shots.take(page, "explorer_numbers", explorer)

    layer = explorer.locator(".widget-dropdown", has_text="layer").locator("select")
    assert layer.input_value() == LAYERS[1]
    start = time.perf_counter()
    layer.select_option(LAYERS[0])  # first visit: builds the layer's atlas
    first_visit = views.wait_for_change(first, ("figure", "numbers"), start)
    timings = {}
    for name in (LAYERS[1], LAYERS[0]):  # both atlases built now
        before, start = views.read(), time.perf_counter()
        layer.select_option(name)
        timings[f"layer → {name}"] = views.wait_for_change(before, ("figure", "numbers"), start)
    expect(explorer.locator(".aelab-explorer-progress")).to_be_hidden()

    before, start = views.read(), time.perf_counter()
    type_into_slider(page, explorer, "channel", "5", "5")
    timings["channel → 5"] = views.wait_for_change(before, ("figure", "numbers"), start)
    assert views.read()["predicted"] == before["predicted"]  # the image, hence its predictions, did not change

    before, start = views.read(), time.perf_counter()
    type_into_slider(page, explorer, "image", "2", "2")
    timings["image → 2"] = views.wait_for_change(before, ("input", "predicted", "numbers", "figure"), start)
    assert "held-out 2" in views.read()["predicted"]
    shots.take(page, "explorer_numbers_image_changed", explorer)

    classes = explorer.locator(".aelab-class-visualisation")
    classes.get_by_role("button", name="render").click()
    expect(classes.locator(".aelab-class-match")).to_contain_text("recipe match", timeout=WAIT_MS)
    expect(classes.locator("img")).to_be_visible()
    shots.take(page, "explorer_class_visualisation", explorer)

    print(f"\nexplorer redraw on the reference run (atlases at 2 steps, 32 px): first visit of {LAYERS[0]} "
          f"{first_visit:.2f} s (atlas built)")
    for change, seconds in timings.items():
        print(f"  cached atlas, {change}: {seconds:.2f} s")
