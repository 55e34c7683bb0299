"""Notebook 03 in JupyterLab: the explorer's controls render, and changing the layer, then the channel, redraws
the displayed figure (its PNG changes)."""

from __future__ import annotations

from playwright.sync_api import expect

from lab_session import open_and_run, type_into_slider

NOTEBOOK = "03_spatial_and_neuron_groups.ipynb"
TINY = {"layer": "emotion.stage3", "spatial_layers": ["emotion.stage3"], "smoothness_layers": ["emotion.stage3"],
        "separability_layers": ["emotion.stage3"], "n_inspect": 8, "pairs": 2, "groups": 2,
        "steps": 2, "image_size": 32, "interactive": True}
WAIT_MS = 240_000


def test_explorer_redraws_when_layer_and_channel_change(page, lab, trained, shots):
    explorer = open_and_run(page, lab, NOTEBOOK, {**TINY, "run": trained["explorer"]}, "aelab-explorer",
                            WAIT_MS / 1000)
    for label in ("layer", "channel", "image", "groups", "task", "class"):
        expect(explorer.locator("label", has_text=label).first).to_be_visible()
    picture = explorer.locator(".aelab-explorer-output img")
    expect(picture).to_have_count(1, timeout=WAIT_MS)
    explorer.scroll_into_view_if_needed()
    shots.take(page, "explorer_rendered", explorer)
    first = picture.get_attribute("src")
    assert first.startswith("data:image/png;base64,") and len(first) > 5000

    layer = explorer.locator(".widget-dropdown", has_text="layer").locator("select")
    options = layer.locator("option").all_inner_texts()
    assert len(options) > 1 and layer.input_value() == options[-1]
    layer.select_option(options[0])
    expect(picture).not_to_have_attribute("src", first, timeout=WAIT_MS)
    expect(picture).to_have_count(1, timeout=WAIT_MS)
    shots.take(page, "explorer_layer_changed", explorer)
    after_layer = picture.get_attribute("src")

    type_into_slider(page, explorer, "channel", "3", "3")
    expect(picture).not_to_have_attribute("src", after_layer, timeout=WAIT_MS)
    expect(picture).to_have_count(1, timeout=WAIT_MS)
    expect(layer).to_have_value(options[0])
    shots.keep(shots.take(page, "explorer_channel_changed", explorer), "explorer.png")
