"""Notebooks 02 (activation maximisation) and 03 (spatial grids and neuron groups) headless with tiny parameters on
the shipped reference run: the faithfulness checks of their figures land in results.json as numbers, and each
figure's title, read back from the saved file, carries its check's line. Also the package pieces they call: the
score of an objective on given images, the class-visualisation figure, figures that keep their titles."""

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from figure_content import assert_drawn  # noqa: E402
from notebook_fixtures import run_from_fresh_folder  # noqa: E402

import aelab  # noqa: E402
from aelab import cli  # noqa: E402
from aelab.data.synthetic.recipes import RECIPES  # noqa: E402
from aelab.data.synthetic.render import hsv as recipe_colour  # noqa: E402
from aelab.errors import AelabError, ConfigError  # noqa: E402
from aelab.load import load_run  # noqa: E402
from aelab.tasks import EMOTIONS  # noqa: E402
from aelab.viz.faithfulness import check_class_images, class_visualisation_figure  # noqa: E402
from aelab.viz.faithfulness.groups_check import GroupSmoothness, LayerSmoothness, layer_line  # noqa: E402
from aelab.viz.figure_file import save_figure, saved_titles  # noqa: E402
from aelab.viz.objectives import channel, neuron  # noqa: E402
from aelab.viz.probe import layer_activations  # noqa: E402
from aelab.viz.render import objective_baseline, objective_scores  # noqa: E402

ACTIVATION = cli.NOTEBOOKS / "02_activation_maximisation.ipynb"
GROUPS = cli.NOTEBOOKS / "03_spatial_and_neuron_groups.ipynb"
TINY_02 = {"layers": ["emotion.stage2"], "channels": 2, "steps": 4, "image_size": 32, "atlas_layer": "emotion.stage1",
           "n_inspect": 8, "interactive": False}
TINY_03 = {"layer": "emotion.stage2", "spatial_layers": ["emotion.stage2"],
           "smoothness_layers": ["emotion.stage1", "emotion.stage2"], "separability_layers": ["emotion.stage3"],
           "n_inspect": 24, "pairs": 6, "groups": 2, "steps": 4, "image_size": 32, "interactive": False}


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def assert_check(entry: dict) -> None:
    """A check as results.json holds it: a number, its chance level, a verdict and the line a title shows."""
    assert is_number(entry["value"]) and is_number(entry["chance"]), entry
    assert isinstance(entry["passed"], bool) and entry["description"].endswith(("pass", "FAIL"))


# ---- package pieces ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(one_thread):
    return load_run(aelab.reference_run())


def test_objective_scores_are_the_channel_means_the_renderer_maximises(reference):
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    act = layer_activations(reference.model, images, "emotion.stage2", normalize=True)
    scores = objective_scores(reference.model, channel("emotion.stage2", [4, 0, 7]), images)
    assert torch.allclose(scores, act[[0, 1, 2], [4, 0, 7]].mean(dim=(1, 2)), atol=1e-5)
    centre = objective_scores(reference.model, neuron("emotion.stage2", [1, 2, 3]), images)
    assert torch.allclose(centre, act[[0, 1, 2], [1, 2, 3], 4, 4], atol=1e-5)  # the 8 × 8 map's centre
    baseline = objective_baseline(reference.model, channel("emotion.stage2", [4, 0]), images)
    assert torch.allclose(baseline, act[:, [4, 0]].mean(dim=(0, 2, 3)), atol=1e-5)  # every image, each channel


def test_objective_scores_need_one_image_per_term(reference):
    with pytest.raises(ConfigError) as error:
        objective_scores(reference.model, channel("emotion.stage2", [0, 1]), torch.rand(3, 3, 32, 32))
    assert "(3, 3, 32, 32)" in str(error.value) and "(2, 3, H, W)" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_saved_figure_keeps_its_titles_and_wraps_a_long_one(tmp_path):
    figure, axes = plt.subplots(1, 2, figsize=(2, 2))
    long = "atlas diversity, layer emotion.stage4: 0.123 (chance 0.0456; needs above a random copy's) — pass"
    figure.suptitle(long)
    axes[1].set_title("ch 1")
    path = save_figure(figure, tmp_path / "f.png")
    assert saved_titles(path) == [long, "ch 1"]
    assert "\n" in figure.get_suptitle()  # drawn on several lines: a 2-inch figure cannot hold it on one
    plt.close(figure)
    figure = plt.figure(figsize=(8, 2))
    figure.suptitle("a check: 1.0× its area, need ≥ 2× — fail\nMTRL layer 1: the comment on its own line")
    save_figure(figure, tmp_path / "two.png")
    assert figure.get_suptitle().splitlines() == ["a check: 1.0× its area, need ≥ 2× — fail",
                                                  "MTRL layer 1: the comment on its own line"]
    assert saved_titles(tmp_path / "two.png")[0] == ("a check: 1.0× its area, need ≥ 2× — fail MTRL layer 1: the "
                                                     "comment on its own line")
    plt.close(figure)
    plain = tmp_path / "plain.png"
    plt.figure().savefig(plain)
    with pytest.raises(AelabError, match="no titles kept"):
        saved_titles(plain)
    with pytest.raises(AelabError, match="not '.jpg'"):
        save_figure(plt.figure(), tmp_path / "f.jpg")
    plt.close("all")


def test_class_figure_says_which_emotion_matches_its_recipe():
    recipes = [RECIPES[e] for e in EMOTIONS]
    colours = np.array([recipe_colour(r.hue, sum(r.saturation) / 2, sum(r.brightness) / 2) for r in recipes])
    colours = torch.tensor(colours, dtype=torch.float32)
    images = colours[:, :, None, None].repeat(1, 1, 8, 8)
    images[0] = images[4]  # amusement's image painted in disgust's colours
    result = check_class_images(images)
    figure = class_visualisation_figure({"emotion": images, "aesthetic": images[:2]}, result)
    main, *panels = [figure.get_suptitle()] + [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert main == result.describe() and "7/8" in main
    assert panels[:2] == ["emotion: amusement\nmisses its recipe", "emotion: anger\nmatches its recipe"]
    assert panels[-2:] == ["aesthetic: low\n(no colour recipe)", "aesthetic: high\n(no colour recipe)"]
    plt.close(figure)


def test_layer_line_gives_each_mode_of_one_layer():
    rows = [LayerSmoothness("a", "paper", 0.1, 0.2, 0.1, 0.8, 0.01, True),
            LayerSmoothness("a", "optimised", 0.3, 0.2, -0.1, 0.3, 0.7, False),
            LayerSmoothness("b", "paper", 0.1, 0.2, 0.1, 0.8, 0.01, True)]
    result = GroupSmoothness("groups", 2.0, 0.15, "all", False, rows=rows, pairs=5)
    line = layer_line(result, "a")
    assert line == ("paper: roughness positive 0.1 vs negative 0.2, p=0.01 (pass); "
                    "optimised: roughness positive 0.3 vs negative 0.2, p=0.7 (FAIL)")
    assert layer_line(result, "c") == ""


# ---- the notebooks -----------------------------------------------------------------------------------------------


def test_activation_notebook_checks_its_class_images_and_atlas(tmp_path):
    """Run from an empty folder without ``output_dir``: everything lands in its default output folder."""
    folder = run_from_fresh_folder(ACTIVATION, tmp_path, TINY_02)
    results = json.loads((folder / "results.json").read_text())
    for key in ("class_visualisation", "atlas_diversity", "neuron_activation"):
        assert_check(results[key])
    assert_check(results["activation_checks"]["emotion.stage2"])
    assert [c["emotion"] for c in results["class_visualisation"]["classes"]] == list(EMOTIONS)
    assert results["figures"] == ["channels_emotion.stage2.png", "neurons.png", "class_visualisation.png",
                                  "atlas.png"]
    for figure in results["figures"]:
        assert_drawn(folder / figure)
    # each figure's title, read back from its file, is the line of the check results.json holds for it
    assert saved_titles(folder / "atlas.png")[0] == results["atlas_diversity"]["description"]
    assert saved_titles(folder / "neurons.png")[0] == results["neuron_activation"]["description"]
    assert (saved_titles(folder / "channels_emotion.stage2.png")[0]
            == results["activation_checks"]["emotion.stage2"]["description"])
    main, *panels = saved_titles(folder / "class_visualisation.png")
    assert main == results["class_visualisation"]["description"]
    verdicts = {p.split("\n")[0].removeprefix("emotion: "): p.split("\n")[1] for p in panels if
                p.startswith("emotion")}
    assert verdicts == {c["emotion"]: "matches its recipe" if c["colour_ok"] and c["brightness_ok"] else
                        "misses its recipe" for c in results["class_visualisation"]["classes"]}
    assert {p for p in panels if p.startswith("aesthetic")} == {"aesthetic: low\n(no colour recipe)",
                                                                "aesthetic: high\n(no colour recipe)"}
    assert results["figure_checks"]["atlas.png"] == "atlas_diversity"


def test_groups_notebook_checks_grids_and_groups_from_a_fresh_folder(tmp_path):
    """Run from an empty folder without ``output_dir``: everything lands in its default output folder."""
    folder = run_from_fresh_folder(GROUPS, tmp_path, TINY_03)
    results = json.loads((folder / "results.json").read_text())
    spatial, smoothness = results["spatial_grid"], results["group_smoothness"]
    assert is_number(spatial["value"]) and is_number(spatial["chance"]) and isinstance(spatial["passed"], bool)
    assert [row["layer"] for row in spatial["rows"]] == ["emotion.stage2"] and results["n_inspect"] == 24
    assert_check(smoothness)
    assert smoothness["pairs"] == 6
    assert [(r["layer"], r["mode"]) for r in smoothness["rows"]] == [
        ("emotion.stage1", "paper"), ("emotion.stage1", "optimised"),
        ("emotion.stage2", "paper"), ("emotion.stage2", "optimised")]
    assert all(is_number(r["p_value"]) for r in smoothness["rows"])
    for figure in results["figures"]:
        assert_drawn(folder / figure)
    for name in ("positive", "negative"):
        assert saved_titles(folder / f"grid_blend_{name}.png")[0] == spatial["description"]
        activation = results["figure_checks"][f"grid_activation_{name}.png"]
        assert saved_titles(folder / f"grid_activation_{name}.png")[0] == activation["description"]
        title = saved_titles(folder / f"groups_{name}.png")[0]
        assert smoothness["description"] in title
        stage2 = [r for r in smoothness["rows"] if r["layer"] == "emotion.stage2"]
        assert all(f"p={r['p_value']:.2g}" in title for r in stage2)
    depth, *panels = saved_titles(folder / "groups_smoothness_by_depth.png")
    assert depth == smoothness["description"] and len(panels) == 2  # one panel per way of drawing a group
