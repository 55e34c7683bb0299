"""The explorer widget on a tiny run: the input image and each task's predicted class with its probability, each
panel's number (Grad-CAM's share in SynthAE's subject box, the channel's activation, the neuron groups' error),
all following the image slider; the class-visualisation control renders once per class and shows the recipe match;
the atlas progress bar fills on a layer's first visit and stays hidden on a built layer; the atlas builder's
progress callback."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from aelab.load import load_run
from aelab.tasks import get_task
from aelab.train import TrainConfig, fit
from aelab.viz.atlas import layer_atlas
from aelab.viz.cam import box_area, cam_mass_in_box, grad_cam
from aelab.viz.class_visualisation import CLASS_START, class_visualisations
from aelab.viz.faithfulness.class_check import match_recipe
from aelab.viz.overlays import normalised_mosaic, stretch_channels, to_hwc
from aelab.viz.probe import layer_activations
from aelab.viz.render import RenderSettings, layer_channels
from aelab.widgets import explorer_class_view
from aelab.widgets.explorer import Explorer
from aelab.widgets.explorer_class_view import NOT_RENDERED, ClassVisualisationPanel
from aelab.widgets.explorer_numbers import NO_GROUND_TRUTH
from aelab.widgets.explorer_widget import class_visualisation_view

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore::aelab.prediction.TrainingDomainWarning")]

QUICK = RenderSettings(steps=2, size=16)
CLASS_IMAGES = RenderSettings(steps=2, size=32)  # the whole network: at least its input size
SIDE = 32
LAYERS = ["emotion.connector3", "emotion.connector2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny AFI run on SynthAE at 32 px (aesthetic binary, emotion 8 classes)."""
    config = TrainConfig(n_images=60, fractions=(0.6, 0.2, 0.2), image_size=SIDE, epochs=1, batch_size=16,
                         max_batches=2, progress=False, grad_ratio_every=0, output=str(tmp_path_factory.mktemp("runs")))
    return fit(config).folder


def by_class(view, name: str):
    """The one widget under ``view`` carrying CSS class ``name``."""
    found, stack = [], [view]
    while stack:
        widget = stack.pop()
        found += [widget] if name in getattr(widget, "_dom_classes", ()) else []
        stack += list(getattr(widget, "children", ()))
    assert len(found) == 1, f"{len(found)} widgets of class {name}"
    return found[0]


def control(view, description: str):
    return next(w for box in view.children[:2] for w in box.children if w.description == description)


def decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def as_bytes(pixels: torch.Tensor) -> np.ndarray:
    return (pixels.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def expected_prediction(explorer: Explorer, index: int) -> dict[str, str]:
    """Each task's class and probability for image ``index``, read straight from the heads."""
    with torch.no_grad():
        outputs = explorer.model(explorer.images[index].inputs[None])
    high = float(torch.sigmoid(outputs["aesthetic"][0].reshape(())))
    emotion = torch.softmax(outputs["emotion"][0], dim=0)
    aesthetic = get_task("aesthetic").classes[int(high > 0.5)]
    return {"aesthetic": f"{aesthetic} (p = {max(high, 1 - high):.3f})",
            "emotion": f"{get_task('emotion').classes[int(emotion.argmax())]} (p = {float(emotion.max()):.3f})"}


def test_input_image_predictions_and_numbers_follow_the_image(run):
    explorer = Explorer(run, layers=LAYERS[:1], n_images=2, settings=QUICK)
    explorer.add_image(Image.fromarray(np.full((SIDE, SIDE, 3), 90, np.uint8)), "grey.png")
    view = explorer.widget()
    picture, predicted, numbers = (by_class(view, f"aelab-explorer-{name}")
                                   for name in ("input", "predicted", "numbers"))
    control(view, "task").value = "emotion"
    seen = []
    for index in range(3):
        control(view, "image").value = index
        shown = explorer.images[index]
        assert np.array_equal(decoded(picture.value), as_bytes(shown.pixels))
        assert shown.name in predicted.value
        for task, text in expected_prediction(explorer, index).items():
            assert f"<b>{task}</b>: {text}" in predicted.value
        layer, target = LAYERS[0], control(view, "class").value
        activation = layer_activations(explorer.model, shown.inputs[None], layer)[0]
        assert f"activation mean {float(activation[0].mean()):.3f}" in numbers.value
        assert "groups, relative error 0." in numbers.value
        if shown.box is None:
            assert NO_GROUND_TRUTH in numbers.value
        else:
            cam = grad_cam(explorer.model, shown.inputs[None], layer, "emotion", target=target)[0]
            share = f"{cam_mass_in_box(cam, shown.box):.0%} of the map in the subject box vs {box_area(shown.box):.0%}"
            assert share in numbers.value
        seen.append((picture.value, predicted.value, numbers.value))
        figure = explorer.figure(layer, 0, index, 2, "emotion", target)  # the headless figure says the same
        assert all(f"{task}: {text}" in figure._suptitle.get_text()
                   for task, text in expected_prediction(explorer, index).items())
        assert numbers.value.split("Grad-CAM</b>: ")[1].split("</li>")[0] in figure.axes[-1].get_title()
        # the eq. 3 grid and the eq. 5 groups are drawn stretched (their plain averages sit near grey)
        panels = explorer.panels(layer, 0, index, 2, "emotion", target)
        mosaic = figure.axes[1].images[0].get_array()
        assert np.allclose(mosaic, to_hwc(normalised_mosaic(panels.grid)))
        assert mosaic.min() == 0 and mosaic.max() == pytest.approx(1)
        drawn = np.stack([figure.axes[2 + g].images[0].get_array() for g in range(2)])
        assert np.allclose(drawn, stretch_channels(panels.group_pictures).permute(0, 2, 3, 1).numpy())
        assert drawn.min() == 0 and drawn.max() == pytest.approx(1)
        plt.close(figure)
    assert explorer.images[0].box is not None and explorer.images[2].box is None
    assert all(len(set(values)) == 3 for values in zip(*seen))  # every view changed with the image


def test_class_visualisation_renders_once_per_class_and_shows_the_recipe_match(run, monkeypatch):
    model = load_run(run).model
    panel = ClassVisualisationPanel(model, CLASS_IMAGES)
    assert (panel.task.value, panel.target.value) == ("emotion", 0)
    panel.button.click()  # the control as it opens: emotion's first class
    assert panel.match.value.startswith("emotion = amusement: recipe match ")
    panel.target.value = 2
    assert panel.match.value == NOT_RENDERED and panel.image.value == b""
    panel.button.click()
    image = class_visualisations(model, ["emotion"], CLASS_IMAGES)["emotion"][2]  # the same class among all eight
    assert np.array_equal(decoded(panel.image.value), as_bytes(image))
    match = match_recipe("awe", image)
    assert panel.match.value.startswith(f"emotion = awe: recipe match {int(match.colour_ok) + int(match.brightness_ok)}"
                                        f"/2: dominant hue {match.dominant_hue:.0f}°")
    assert f"brightness {match.brightness:.2f}" in panel.match.value
    shown = panel.image.value

    def no_render(*args, **kwargs):
        raise AssertionError("a cached class image was rendered again")

    monkeypatch.setattr(explorer_class_view, "render", no_render)
    panel.target.value = 3
    assert panel.match.value == NOT_RENDERED
    panel.target.value = 2  # back to a rendered class: shown from the cache at once
    assert panel.image.value == shown and "recipe match" in panel.match.value
    monkeypatch.undo()
    panel.task.value = "aesthetic"
    assert panel.target.value == 0
    panel.button.click()
    assert "no SynthAE recipe for aesthetic" in panel.match.value


def test_the_explorers_class_control_starts_class_images_from_their_colour_and_grain(run, monkeypatch):
    starts = []

    def recording_render(model, objective, settings, **kwargs):
        starts.append(settings.start)
        return torch.zeros(objective.batch_size, 3, settings.size, settings.size)

    monkeypatch.setattr(explorer_class_view, "render", recording_render)
    view = class_visualisation_view(Explorer(run, layers=LAYERS[:1], n_images=2, settings=QUICK))
    by_class(view, "aelab-class-visualisation").children[0].children[2].click()  # the "render" button
    assert starts == [CLASS_START]


def test_progress_bar_fills_on_a_first_visit_and_hides_on_a_built_layer(run):
    settings = RenderSettings(steps=2, size=16, seed=7, batch_size=8)  # a key of its own: nothing cached yet
    explorer = Explorer(run, layers=LAYERS, n_images=1, settings=settings)
    bar, values = explorer.progress, []
    bar.observe(lambda change: values.append(change["new"]), names="value")
    view = explorer.widget()
    assert by_class(view, "aelab-explorer-progress") is bar
    channels = layer_channels(explorer.model, LAYERS[1])
    assert bar.layout.display != "none" and bar.max == channels and values[-1] == channels
    assert values == sorted(values) and len(values) > 2 and LAYERS[1] in bar.description
    values.clear()
    control(view, "channel").value = 3  # same layer: built
    assert bar.layout.display == "none" and values == []
    control(view, "layer").value = LAYERS[0]  # first visit of another layer
    assert bar.layout.display != "none" and values[-1] == bar.max == layer_channels(explorer.model, LAYERS[0])
    values.clear()
    control(view, "layer").value = LAYERS[1]
    assert bar.layout.display == "none" and values == []


def test_atlas_builder_reports_its_progress_and_stays_silent_on_a_cached_atlas(run, tmp_path):
    model, layer = load_run(run).model, LAYERS[0]
    settings = RenderSettings(steps=1, size=16, batch_size=16)
    calls = []
    atlas = layer_atlas(model, layer, settings, cache_dir=tmp_path, progress=False,
                        callback=lambda done, total: calls.append((done, total)))
    total = len(atlas)
    assert calls == [(done, total) for done in range(0, total + 1, 16)]
    calls.clear()
    layer_atlas(model, layer, settings, cache_dir=tmp_path, progress=False,
                callback=lambda done, total: calls.append((done, total)))
    assert calls == []
    layer_atlas(model, layer, RenderSettings(steps=1, size=16), progress=False,
                callback=lambda done, total: calls.append((done, total)))
    assert calls == [(0, total), (total, total)]
