"""The selection loop on a tiny SynthAE sentiment run: k-fold splits, evidence per layer, cross-validation and
the panel driven programmatically (tick, set the weight, click → training runs → the comparison shows)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from aelab.selection import cross_validate, fold_configs, gather_evidence, paired_difference, sentiment_config
from aelab.selection.figures import evidence_figure
from aelab.train import fit
from aelab.train.data import split_samples
from aelab.viz.overlays import stretch_channels
from aelab.viz.render import RenderSettings
from aelab.widgets.selection import SelectionPanel

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"n_images": 96, "image_size": 32, "epochs": 1, "batch_size": 32}
QUICK_ATLAS = RenderSettings(steps=2, size=32)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return sentiment_config(tmp_path_factory.mktemp("runs"), **TINY)


@pytest.fixture(scope="module")
def base_run(config):
    return fit(config.replace(name="base")).folder


@pytest.fixture(scope="module")
def evidence(base_run):
    return gather_evidence(base_run, n_images=24, n_show=2, settings=QUICK_ATLAS, n_shuffles=2)


def test_folds_partition_the_data_stratified(config):
    configs = fold_configs(config, ["stage3"], folds=3)
    assert [c.fold for c in configs] == [0, 1, 2] and all(c.model_options["aux_layers"] == ["stage3"] for c in configs)
    tests = [split_samples(c)["test"] for c in configs]
    ids = [s.id for part in tests for s in part]
    assert len(ids) == len(set(ids)) == TINY["n_images"]  # every image tested exactly once
    first = split_samples(configs[0])
    assert not {s.id for s in first["train"]} & {s.id for s in first["test"]} and first["val"] == []
    overall = Counter(s.labels["sentiment"] for part in tests for s in part)
    for part in tests:  # stratified: each fold keeps the class proportions (within one image)
        share = Counter(s.labels["sentiment"] for s in part)
        assert abs(share[1] - overall[1] * len(part) / TINY["n_images"]) <= 1
    with pytest.raises(ValueError, match="fold in 0..folds-1"):
        config.replace(folds=3, fold=3)
    with pytest.raises(ValueError, match="arch='aux'"):
        fold_configs(config.replace(arch="afi"), [], 2)


def test_evidence_per_layer(evidence, base_run):
    assert evidence.layer_names == ["shared.stage1", "shared.stage2", "shared.stage3", "shared.stage4"]
    assert evidence.label == "sentiment" and evidence.classes == ("negative", "positive")
    for item in evidence.layers:
        assert item.positive.shape == item.negative.shape == (2, 3, 32, 32)
        assert item.separability.layer == item.layer and len(item.separability.control_scores) == 2
        assert item.separability.n_a + item.separability.n_b == 24
    # SynthAE plants each emotion's colour: the early layers of even a barely trained network tell positive from
    # negative images apart, far above what the same classifier reaches with shuffled labels
    best = max(evidence.scores, key=lambda s: s.margin)
    assert best.layer in ("shared.stage1", "shared.stage2") and best.score > 0.7
    assert best.score > max(best.control_scores) + 0.1, [s.to_dict() for s in evidence.scores]
    assert evidence.positive_pixels.shape == (2, 3, 32, 32)
    assert len(list((base_run / "atlas").iterdir())) == 4  # one cached atlas per layer, in the run folder
    figure = evidence_figure(evidence)
    assert len(figure.axes) == 5 * 4
    # each layer's row shows its pictures stretched together: eq. 5's near-grey averages fill the range
    for row, item in enumerate(evidence.layers, start=1):
        shown = np.stack([figure.axes[row * 4 + k].images[0].get_array() for k in range(4)])
        assert np.allclose(shown, stretch_channels(torch.cat([item.positive, item.negative])).permute(0, 2, 3, 1))
        assert shown.min() == 0 and shown.max() == pytest.approx(1)
    assert "stretched together" in figure._suptitle.get_text()


def test_cross_validation_pairs_folds(config):
    none = cross_validate(config, [], folds=2)
    heads = cross_validate(config, ["stage2"], folds=2, aux_weight=0.5)
    assert len(none.folds) == len(heads.folds) == 2 and set(none.folds[0]) >= {"accuracy", "precision", "f1"}
    assert np.isclose(none.mean("accuracy"), np.mean([f["accuracy"] for f in none.folds]))
    gain = paired_difference(heads, none)
    expected = [a["accuracy"] - b["accuracy"] for a, b in zip(heads.folds, none.folds)]
    assert np.isclose(gain["mean"], np.mean(expected)) and gain["wins"] == sum(d > 0 for d in expected)
    config_text = (Path(heads.runs[0]) / "config.yaml").read_text()
    assert "stage2" in config_text and "aux_weight: 0.5" in config_text and "fold: 0" in config_text


def test_panel_ticks_trains_and_shows_the_comparison(evidence, config, base_run):
    panel = SelectionPanel(evidence, config, folds=2, aux_weight=0.1)
    view = panel.widget()
    assert len(view.children) == 1 + 4 + 4  # header, a row per layer, weight+button, progress, status, table
    panel.train_button.click()  # nothing ticked: a message, no training
    assert "tick at least one layer" in panel.status.value and panel.results is None
    panel.checkboxes["shared.stage2"].value = True
    panel.checkboxes["shared.stage4"].value = True
    panel.weight.value = 0.3
    panel.train_button.click()
    assert panel.progress.value == panel.progress.max == 4 and panel.progress.bar_style == "success"
    assert "stage2 + stage4" in panel.comparison.value and "no auxiliary heads" in panel.comparison.value
    assert "<table" in panel.comparison.value and "gain" in panel.comparison.value
    saved = json.loads((base_run / "selection.json").read_text())
    assert saved["choice"]["chosen_by"] == "person" and saved["choice"]["aux_weight"] == 0.3
    assert saved["choice"]["layers"] == ["shared.stage2", "shared.stage4"]
    assert len(saved["choice"]["scores"]) == 4 and len(saved["chosen"]["folds"]) == 2
    # a second choice reuses the baseline's folds: only the new setting trains
    panel.checkboxes["shared.stage4"].value = False
    panel.train_button.click()
    assert panel.progress.max == 2 and panel.results["baseline"] == saved["baseline"]
    assert panel.results["choice"]["layers"] == ["shared.stage2"]



def test_layer_choice_comes_back_from_its_record():
    from aelab.errors import ConfigError
    from aelab.selection import LayerChoice

    choice = LayerChoice(["shared.stage2", "shared.stage4"], "person", [{"layer": "shared.stage2", "score": 0.8}],
                         None, 0.3)
    record = json.loads(json.dumps(choice.to_dict()))  # as results.json and the panel keep it
    assert record["short_layers"] == ["stage2", "stage4"]
    assert LayerChoice.from_dict(record) == choice
    with pytest.raises(ConfigError, match="panel's choice key 'layer': got"):
        LayerChoice.from_dict({**record, "layer": "stage2"}, "the panel's choice")
    with pytest.raises(ConfigError, match="at least the keys layers and chosen_by"):
        LayerChoice.from_dict({"layers": ["shared.stage2"]})
