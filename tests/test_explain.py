"""Explaining real photographs with a trained run: matplotlib's sample portrait of Grace Hopper, a 5:1 crop of it, an
RGBA copy and a 3000×2000 enlargement keep their aspect ratio in the network input and in the figure; the JSON holds
every task's probabilities; a SynthAE run warns once; bad input is named in one line; the explorer takes your own
photos and uploads; ``cam_figure(classes="predicted")`` names the predicted class."""

from __future__ import annotations

import json
from datetime import datetime, timezone
import shutil
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import yaml
from matplotlib import cbook
from PIL import Image

import aelab
from aelab import cli
from aelab.errors import ConfigError
from aelab.load import load_run
from aelab.prediction import TrainingDomainWarning, predict
from aelab.tasks import get_task
from aelab.train import TrainConfig, fit
from aelab.viz.explain import DISPLAY_SIDE, default_layer, explain, explain_image
from aelab.viz.overlays import cam_figure
from aelab.viz.probe import layer_activations
from aelab.viz.render import RenderSettings
from aelab.widgets.explorer import Explorer

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore::aelab.prediction.TrainingDomainWarning")]

QUICK = RenderSettings(steps=2, size=16)
SIDE = 32


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny AFI run on SynthAE at 32 px (aesthetic binary, emotion 8 classes)."""
    config = TrainConfig(n_images=60, fractions=(0.6, 0.2, 0.2), image_size=SIDE, epochs=1, batch_size=16,
                         max_batches=2, progress=False, grad_ratio_every=0, output=str(tmp_path_factory.mktemp("runs")))
    return fit(config).folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """The sample portrait (512×600), a 5:1 crop of it and an RGBA copy with a transparent band."""
    folder = tmp_path_factory.mktemp("photos")
    original = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    portrait = Image.open(original).convert("RGB")
    crop = portrait.crop((0, 250, 500, 350))  # 500×100
    crop.save(folder / "panorama.png")
    rgba = portrait.convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:100] = 0
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(folder / "transparent.png")
    return {"portrait": original, "panorama": folder / "panorama.png", "transparent": folder / "transparent.png"}


def photo_axes(figure) -> list:
    return [ax for ax in figure.axes if ax.get_label().startswith(("photo", "grad-cam", "where"))]


def test_figures_and_inputs_keep_each_photos_aspect_ratio(run, photos):
    result = explain(run, list(photos.values()), settings=QUICK)
    assert result.errors == [] and len(result.photos) == 3
    for explained, path in zip(result.photos, photos.values()):
        width, height = Image.open(path).size
        input_width, input_height = explained.numbers["input_size"]
        assert min(input_width, input_height) == SIDE
        assert input_width / input_height == pytest.approx(width / height, rel=0.04)
        shown = photo_axes(explained.figure)
        assert {ax.get_label() for ax in shown} >= {"photo", "grad-cam aesthetic", "grad-cam emotion"}
        for ax in shown:
            left, right, bottom, top = ax.images[0].get_extent()
            assert (right - left, bottom - top) == (width, height)
            assert ax.get_aspect() == 1.0
            rows, columns = ax.images[0].get_array().shape[:2]
            assert columns / rows == pytest.approx(width / height, rel=0.02)
            box = ax.get_position()  # the drawn panel has the photo's proportions too
            figure_width, figure_height = explained.figure.get_size_inches()
            assert box.width * figure_width / (box.height * figure_height) == pytest.approx(width / height, rel=0.03)
        grids = [ax.images[0].get_array() for ax in explained.figure.axes if ax.get_title().endswith(", stretched")]
        assert grids and all(g.min() == 0 and g.max() == pytest.approx(1) for g in grids)  # eq. 3 blends, not grey
        plt.close(explained.figure)
    assert result.photos[1].numbers["input_size"] == [160, SIDE]


def test_json_has_every_tasks_probabilities_and_the_maps_of_the_predicted_class(run, photos, tmp_path):
    result = explain(run, [photos["panorama"], photos["transparent"]], settings=QUICK, output=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "panorama-explained.json", "panorama-explained.png", "transparent-explained.json", "transparent-explained.png"]
    for explained in result.photos:
        assert explained.figure is None and Image.open(explained.png).size[0] > 0
        numbers = json.loads(explained.json.read_text())
        assert numbers["trained_on"] == "synthae" and "planted factors" in numbers["warning"]
        assert set(numbers["prediction"]) == {"aesthetic", "emotion"}
        for task, entry in numbers["prediction"].items():
            probabilities = entry["probabilities"]
            assert sorted(probabilities) == sorted(get_task(task).classes)
            assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
            assert entry["class"] == max(probabilities, key=probabilities.get)
            cam = numbers["grad_cam"][task]
            assert cam["class"] == entry["class"] and cam["layer"] in numbers["layers"]
            assert sum(map(sum, cam["thirds"])) == pytest.approx(1.0, abs=1e-5)
        for layer in numbers["layers"].values():
            assert len(layer["neuron_groups"]["groups"]) == 3
            assert sum(g["share_of_loading"] for g in layer["neuron_groups"]["groups"]) == pytest.approx(1.0)


def test_a_square_photo_gets_the_numbers_predict_gives(run, photos, tmp_path):
    square = tmp_path / "square.png"
    Image.open(photos["portrait"]).convert("RGB").resize((SIDE, SIDE)).save(square)  # predict's squeeze is a no-op
    row = predict(run, square, progress=False).rows[0]
    explained = explain_image(run, Image.open(square), settings=QUICK)
    plt.close(explained.figure)
    emotion = explained.prediction["emotion"]
    assert emotion["probabilities"] == pytest.approx({k.removeprefix("emotion_"): v for k, v in row.items()
                                                      if k.startswith("emotion_")}, abs=1e-5)
    assert emotion["class"] == row["emotion"] and explained.prediction["aesthetic"]["class"] == row["aesthetic"]
    assert explained.prediction["aesthetic"]["probabilities"]["high"] == pytest.approx(row["aesthetic_probability"],
                                                                                       abs=1e-5)


def test_a_synthae_run_warns_once_per_call_and_an_unrecorded_domain_is_unknown(run, photos, tmp_path):
    two = [photos["panorama"], photos["portrait"]]
    for call in (lambda folder: explain(folder, two, settings=QUICK, n_groups=1),
                 lambda folder: predict(folder, two, progress=False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = call(run)
        domain = [w for w in caught if issubclass(w.category, TrainingDomainWarning)]
        assert len(domain) == 1 and "SynthAE's planted factors" in str(domain[0].message)
        plt.close("all")
    unknown = tmp_path / "run"
    shutil.copytree(run, unknown)
    saved = yaml.safe_load((unknown / "config.yaml").read_text())
    del saved["config"]["data"]
    (unknown / "config.yaml").write_text(yaml.safe_dump(saved))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = explain(unknown, photos["panorama"], settings=QUICK, n_groups=1)
    assert not [w for w in caught if issubclass(w.category, TrainingDomainWarning)]
    assert result.photos[0].numbers["trained_on"] == "unknown" and result.photos[0].numbers["warning"] is None
    plt.close("all")


def test_a_large_photo_is_shrunk_before_the_network_sees_it(run, photos, tmp_path):
    big = tmp_path / "big.jpg"
    Image.open(photos["portrait"]).convert("RGB").resize((3000, 2000)).save(big, quality=80)
    explained = explain(run, big, settings=QUICK, n_groups=1).photos[0]
    assert explained.numbers["input_size"] == [48, SIDE] and explained.photo.pixels.shape == (3, SIDE, 48)
    assert explained.photo.display.size == (DISPLAY_SIDE, round(DISPLAY_SIDE * 2 / 3))
    plt.close(explained.figure)


def test_bad_photos_are_listed_and_the_others_explained(run, photos, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photograph")
    result = explain(run, [tmp_path / "missing.jpg", broken, photos["panorama"]], settings=QUICK)
    assert [p.numbers["photo"] for p in result.photos] == [str(photos["panorama"])]
    assert [e["error"] for e in result.errors] == [f"{tmp_path / 'missing.jpg'}: photo does not exist",
                                                   result.errors[1]["error"]]
    assert result.errors[1]["error"].startswith(f"{broken}: photo cannot be read")
    plt.close("all")


def test_unknown_layer_or_task_is_named_before_anything_is_written(run, photos, tmp_path):
    output = tmp_path / "out"
    for kwargs, message in [({"layer": "emotion.stage9"}, "layer: got 'emotion.stage9', expected a probe layer"),
                            ({"task": "beauty"}, "task: got 'beauty', expected one of: aesthetic, emotion"),
                            ({"size": 8}, "size: got 8, expected an integer >= 32"),
                            ({"photos": [tmp_path]}, "photos: got '.*', expected image files or folders")]:
        with pytest.raises(ConfigError, match=message):
            explain(run, kwargs.pop("photos", photos["portrait"]), output=output, settings=QUICK, **kwargs)
    assert not output.exists()


def test_explain_command_writes_files_and_says_each_problem_in_one_line(run, photos, tmp_path, capsys):
    output = tmp_path / "explained"
    with warnings.catch_warnings():
        warnings.simplefilter("always", TrainingDomainWarning)  # as outside the tests
        assert cli.main(["explain", str(run), str(photos["panorama"]), str(tmp_path / "missing.jpg"), "--task",
                         "emotion", "--output", str(output), "--atlas-steps", "1", "--groups", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    numbers = json.loads((output / "panorama-explained.json").read_text())
    assert set(numbers["grad_cam"]) == {"emotion"} and (output / "panorama-explained.png").exists()
    errors = captured.err.strip().splitlines()
    assert [line.split(":")[0] for line in errors] == ["aelab explain", "unreadable"]
    assert "warning: " in errors[0] and "SynthAE's planted factors" in errors[0]
    assert cli.main(["explain", str(run), str(photos["panorama"]), "--layer", "emotion.stage9",
                     "--output", str(output)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"aelab explain: error: --layer: got 'emotion.stage9', expected a probe layer of the run, "
                           f"one of: {', '.join(load_run(run).model.probe_layers())} (did you mean")


def test_default_layer_is_the_deepest_with_a_grid_of_four(run):
    model = load_run(run).model
    for task in ("aesthetic", "emotion"):
        layer = default_layer(model, task, SIDE)
        own = [name for name in model.probe_layers() if name.startswith(f"{task}.")]
        sides = [min(layer_activations(model, torch.zeros(1, 3, SIDE, SIDE), name).shape[-2:]) for name in own]
        assert layer == own[max(i for i, side in enumerate(sides) if side >= 4)]
    assert aelab.explain is explain


def test_explorer_takes_your_own_photos_and_uploads(run, photos, tmp_path):
    layer = "emotion.connector3"
    explorer = Explorer(run, layers=[layer], n_images=2, settings=QUICK,
                        photos=[photos["panorama"], tmp_path / "missing.jpg"])
    assert [image.name for image in explorer.images] == ["held-out 0", "held-out 1", "panorama.png"]
    assert explorer.skipped == [f"{tmp_path / 'missing.jpg'}: photo does not exist"]
    assert explorer.images[2].pixels.shape == (3, SIDE, 160)
    figure = explorer.figure(layer, channel=0, image=2, groups=1, task="emotion", target=0)
    rows, columns = figure.axes[-1].images[0].get_array().shape[:2]
    assert columns / rows == pytest.approx(5.0) and "panorama.png" in figure.axes[-1].get_title()
    plt.close(figure)

    view = explorer.widget()
    slider = next(w for box in view.children[:2] for w in box.children if getattr(w, "description", "") == "image")
    content = (photos["transparent"]).read_bytes()
    explorer.upload.value = ({"name": "transparent.png", "type": "image/png", "size": len(content),
                              "content": memoryview(content), "last_modified": datetime.now(timezone.utc)},
                             {"name": "notes.png", "type": "image/png", "size": 4, "content": memoryview(b"text"),
                              "last_modified": datetime.now(timezone.utc)})
    assert [image.name for image in explorer.images][3:] == ["transparent.png"]
    assert slider.max == 3 and slider.value == 3
    assert explorer.skipped[-1].startswith("notes.png: uploaded photo cannot be read")
    plt.close("all")


def test_a_layer_the_head_never_uses_gets_no_map_and_a_note(run):
    from aelab.viz.explain import _Explainer

    loaded = load_run(run)
    last = loaded.model.probe_layers()[-1]  # the emotion branch's last connector feeds the emotion head only
    explainer = _Explainer(loaded, [get_task("aesthetic")], {"aesthetic": last}, SIDE, 1, QUICK, False)
    inputs = torch.rand(1, 3, SIDE, SIDE)
    unused = explainer.task_map(inputs, get_task("aesthetic"))
    assert unused.cam is None and unused.note == f"aesthetic does not use {last}"
    explainer.layers["emotion"] = last
    assert explainer.task_map(inputs, get_task("emotion")).cam.shape == (SIDE, SIDE)


def test_cam_figure_titles_each_panel_with_the_predicted_class(run, photos):
    from aelab.viz.cam import grad_cam

    loaded = load_run(run)
    pixels = torch.rand(2, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    inputs = loaded.normalize(pixels)
    cams = grad_cam(loaded.model, inputs, "emotion.connector3", "emotion")
    expected = [get_task("emotion").classes[int(i)] for i in loaded.model(inputs)["emotion"].argmax(dim=1)]
    figure = cam_figure(pixels, cams, layer="emotion.connector3", task="emotion", classes="predicted",
                        model=loaded.model)
    assert [ax.get_title() for ax in figure.axes[:2]] == [f"emotion = {name} (predicted)" for name in expected]
    plt.close(figure)
    with pytest.raises(ConfigError, match="classes: got 'predicted', expected class names, or model="):
        cam_figure(pixels, cams, layer="emotion.connector3", task="emotion", classes="predicted")
