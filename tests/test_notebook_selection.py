"""Notebook 04 headless: the automatic choice with the ablation table, and an explicit list of layers."""

import json
from dataclasses import fields

import pytest
from figure_content import assert_drawn, assert_same_drawing

from aelab import cli
from aelab.selection.figures import ablation_chart
from aelab.viz.overlays import separability_chart
from aelab.viz.separability import LayerSeparability

NOTEBOOK = cli.NOTEBOOKS / "04_auxiliary_classifier_selection.ipynb"
TINY = {"n_images": 96, "image_size": 32, "epochs": 1, "folds": 2, "n_inspect": 20, "atlas_steps": 2,
        "atlas_size": 32, "interactive": False}
RECORDED = [f.name for f in fields(LayerSeparability)]


@pytest.fixture(scope="module")
def automatic(tmp_path_factory):
    executed = cli.run_notebook(NOTEBOOK, tmp_path_factory.mktemp("auto"), {**TINY, "aux_layers": "auto", "k": 2})
    return json.loads((executed.parent / "results.json").read_text()), executed.parent


def test_automatic_choice_and_ablation(automatic):
    results, folder = automatic
    choice = results["choice"]
    assert choice["chosen_by"] == "auto" and choice["k"] == 2 and len(choice["layers"]) == 2
    ranked = sorted(choice["scores"], key=lambda s: -s["score"])
    assert {s["layer"] for s in ranked[:2]} == set(choice["layers"])  # the two most separable layers
    cv = results["cross_validation"]
    assert len(cv["no_aux"]["folds"]) == len(cv["chosen"]["folds"]) == 2
    kinds = [row["kind"] for row in results["ablation"]]
    assert kinds[0] == "none" and kinds.count("single") == 2 and "chosen" in kinds and kinds.count("minus one") == 2
    assert results["figures"] == ["neuron_groups_by_layer.png", "separability.png", "ablation.png"]
    assert_drawn(folder / "neuron_groups_by_layer.png", min_colours=200)  # rendered neuron groups, not a blank sheet
    # the two charts are the numbers results.json records, drawn again here
    scores = [LayerSeparability(**{key: s[key] for key in RECORDED}) for s in choice["scores"]]
    assert_same_drawing(folder / "separability.png", separability_chart(scores, classes=("positive", "negative")),
                        dpi=90)
    assert_same_drawing(folder / "ablation.png", ablation_chart(results["ablation"]), dpi=90)


def test_explicit_layers_without_inspection(tmp_path):
    """A list of layers needs no look inside: no base network, no evidence, straight to cross-validation."""
    executed = cli.run_notebook(NOTEBOOK, tmp_path, {**TINY, "aux_layers": ["stage3", "shared.stage1"],
                                                     "inspect": False, "ablation": False})
    explicit = json.loads((executed.parent / "results.json").read_text())
    assert explicit["base_run"] == "" and explicit["figures"] == []
    assert explicit["choice"]["chosen_by"] == "person" and explicit["choice"]["scores"] == []
    assert explicit["choice"]["layers"] == ["shared.stage1", "shared.stage3"]
    assert explicit["cross_validation"]["chosen"]["label"] == "stage1 + stage3" and explicit["ablation"] == []
    assert len(explicit["cross_validation"]["chosen"]["folds"]) == 2
