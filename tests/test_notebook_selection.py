"""Notebook 04 headless: the automatic choice with the ablation table (run from an empty folder with the default
output folder), and an explicit list of layers; the choice the notebook goes on with, and its candidate layers."""

import json
from dataclasses import fields
from types import SimpleNamespace

import pytest
from figure_content import assert_drawn, assert_same_drawing
from notebook_fixtures import run_from_fresh_folder

from aelab import cli
from aelab.errors import ConfigError
from aelab.selection import LayerChoice, layer_candidates, probe_layers, sentiment_config, settle_choice
from aelab.selection.figures import ablation_chart
from aelab.viz.overlays import separability_chart
from aelab.viz.separability import LayerSeparability

NOTEBOOK = cli.NOTEBOOKS / "04_auxiliary_classifier_selection.ipynb"
TINY = {"n_images": 96, "image_size": 32, "epochs": 1, "folds": 2, "n_inspect": 20, "atlas_steps": 2,
        "atlas_size": 32, "interactive": False}
RECORDED = [f.name for f in fields(LayerSeparability)]


@pytest.fixture(scope="module")
def automatic(tmp_path_factory):
    """Run from an empty folder without ``output_dir``: everything lands in runs/notebooks/<name>/ there."""
    output = run_from_fresh_folder(NOTEBOOK, tmp_path_factory.mktemp("auto"), {**TINY, "aux_layers": "auto", "k": 2})
    return json.loads((output / "results.json").read_text()), output


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


PROBES = ["shared.stage1", "shared.stage2", "shared.stage3", "shared.stage4"]
SCORES = [LayerSeparability("shared.stage1", 0.55, 0.5, 0.05), LayerSeparability("shared.stage2", 0.9, 0.5, 0.05),
          LayerSeparability("shared.stage3", 0.8, 0.5, 0.05)]


def test_the_panel_choice_wins_over_aux_layers():
    """A person who trained with the panel's ticks is followed; its record's derived keys are dropped."""
    ticked = LayerChoice(["shared.stage1"], "person", aux_weight=0.3).to_dict()  # with short_layers
    choice = settle_choice("auto", SCORES, PROBES[:-1], panel_results={"choice": ticked, "baseline": {}}, k=2)
    assert choice == LayerChoice(["shared.stage1"], "person", aux_weight=0.3)


def test_headless_choice_comes_from_aux_layers():
    auto = settle_choice("auto", SCORES, PROBES[:-1], k=2, aux_weight=0.2)
    assert auto.layers == ["shared.stage2", "shared.stage3"] and auto.chosen_by == "auto" and auto.aux_weight == 0.2
    person = settle_choice(["stage3", "stage1"], [], PROBES[:-1], panel_results=None)
    assert person.layers == ["shared.stage1", "shared.stage3"] and person.chosen_by == "person"


@pytest.mark.parametrize("panel_results", [{}, {"choice": "stage1"}, ["stage1"]])
def test_panel_results_without_a_choice_are_refused(panel_results):
    with pytest.raises(ConfigError, match="panel_results"):
        settle_choice("auto", SCORES, PROBES[:-1], panel_results=panel_results)


def test_aux_layers_as_text_says_to_use_yaml():
    with pytest.raises(ConfigError) as error:
        settle_choice("[stage1, stage3]", SCORES, PROBES[:-1])
    assert error.value.parameter == "aux_layers" and '-y "aux_layers: ' in str(error.value)


def test_candidates_without_evidence_are_the_probe_layers_but_the_last(tmp_path):
    config = sentiment_config(tmp_path, n_images=8, image_size=32)
    probes = probe_layers(config)
    assert layer_candidates(None, config) == probes[:-1] and len(probes) > 2
    evidence = SimpleNamespace(layer_names=["shared.stage2"])  # what the evidence was gathered on
    assert layer_candidates(evidence, config) == ["shared.stage2"]
