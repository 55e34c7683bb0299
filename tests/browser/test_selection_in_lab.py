"""Notebook 04 in JupyterLab: tick two layers in the selection panel, set the weight, click train, wait for the
progress bar to finish and find the comparison table naming those layers."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from lab_session import open_and_run, type_into_slider

NOTEBOOK = "04_auxiliary_classifier_selection.ipynb"
TINY = {"n_images": 96, "image_size": 32, "epochs": 1, "folds": 2, "n_inspect": 20, "atlas_steps": 2,
        "atlas_size": 32, "ablation": False, "interactive": True}
WAIT_MS = 240_000


def test_panel_ticks_trains_and_compares(page, lab, trained, shots):
    panel = open_and_run(page, lab, NOTEBOOK, {**TINY, "run": trained["selection"]}, "aelab-selection",
                         WAIT_MS / 1000)
    expect(panel.locator("img")).to_have_count(4)  # a row of neuron-group pictures per candidate layer
    panel.scroll_into_view_if_needed()
    shots.take(page, "panel_rendered", panel)

    for layer in ("stage2", "stage4"):
        box = panel.get_by_role("checkbox", name=layer, exact=True)
        box.check()
        expect(box).to_be_checked()
    type_into_slider(page, panel, "aux weight", "0.3", "0.30")
    shots.take(page, "panel_ticked", panel)

    panel.get_by_role("button", name="train with these layers").click()
    bar = panel.locator(".widget-hprogress .progress-bar")
    expect(bar).to_have_class(re.compile(r"\bprogress-bar-success\b"), timeout=WAIT_MS)
    table = panel.locator("table.aelab-comparison")
    expect(table).to_be_visible(timeout=WAIT_MS)
    expect(table).to_contain_text("stage2 + stage4")
    expect(table).to_contain_text("no auxiliary heads")
    expect(panel).to_contain_text("auxiliary weight 0.30")
    panel.scroll_into_view_if_needed()
    shots.keep(shots.take(page, "panel_trained", panel), "selection_panel.png")
