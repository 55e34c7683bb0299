"""One parameter vocabulary across the notebooks: the same name means the same thing in each of them (the table in
docs/teaching.md), and each notebook's first cell states how long its defaults took on 2 CPU cores."""

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
BUILDS_DATA = {"00_synthae_tour", "01_train_multitask", "04_auxiliary_classifier_selection",
               "06_image_text_aesthetics"}
"""Notebooks that build (and train on) a data set of their own: their data-set size is ``n_images``."""
INSPECTS_IMAGES = {"03_spatial_and_neuron_groups", "04_auxiliary_classifier_selection", "05_grad_cam"}
"""Notebooks that analyse held-out images: how many is ``n_inspect``."""
ALIASES = {"n": "n_images", "size": "image_size", "train_images": "n_images", "n_train": "n_images",
           "num_images": "n_images", "n_samples": "n_images", "dataset_size": "n_images", "img_size": "image_size",
           "resolution": "image_size", "side": "image_size", "output": "output_dir", "out_dir": "output_dir",
           "run_dir": "run", "run_folder": "run", "random_seed": "seed", "n_epochs": "epochs",
           "learning_rate": "lr", "data_root": "root", "pretrained": "weights", "n_analysed": "n_inspect",
           "n_shown_images": "n_inspect", "n_held_out": "n_inspect"}
"""Names the vocabulary replaces, with the name to use instead."""
NONE_MEANS_DEFAULT = ("root", "weights")
"""``root = None`` is SynthAE, ``weights = None`` a random initialisation: the default is None, not ``""``."""
TIME_LINE = re.compile(r"^\*\*Time on 2 CPU cores with the defaults:\*\*.*?\b\d+(?:\.\d+)?\s*"
                       r"(?:s|seconds?|min|minutes?|h|hours?)\b", re.M)


def parameters(path: Path) -> dict[str, object]:
    """The names the ``parameters`` cell assigns, with their default (a literal, or the source text otherwise)."""
    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged parameters, expected one"
    values = {}
    for node in ast.parse("".join(tagged[0]["source"])).body:
        target, value = ((node.targets[0], node.value) if isinstance(node, ast.Assign) else
                         (node.target, node.value) if isinstance(node, ast.AnnAssign) else (None, None))
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                values[target.id] = ast.unparse(value)
    return values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_alias_of_a_shared_name(path):
    found = {name: ALIASES[name] for name in parameters(path) if name in ALIASES}
    assert not found, f"{path.name}: rename " + ", ".join(f"{a} → {b}" for a, b in found.items())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_data_set_size_and_inspected_images_are_told_apart(path):
    names = parameters(path)
    if path.stem in BUILDS_DATA:
        assert "n_images" in names, f"{path.name} builds a data set: its size is n_images"
    else:
        assert "n_images" not in names, f"{path.name} builds no data set: images it analyses are n_inspect"
    if path.stem in INSPECTS_IMAGES:
        assert "n_inspect" in names, f"{path.name} analyses held-out images: how many is n_inspect"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_output_dir_seed_and_none_defaults(path):
    names = parameters(path)
    default = names.get("output_dir")
    assert default == f"runs/notebooks/{path.stem}", f"{path.name}: output_dir = {default!r}"
    assert "seed" in names, f"{path.name} has no seed"
    for name in (n for n in NONE_MEANS_DEFAULT if n in names):
        assert names[name] is None, f"{path.name}: {name} = {names[name]!r}, expected None"
    assert isinstance(names.get("run", ""), str), f"{path.name}: run = {names['run']!r}, expected a folder or \"\""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_states_the_measured_time(path):
    first = json.loads(path.read_text())["cells"][0]
    assert first["cell_type"] == "markdown", f"{path.name}: the first cell is not markdown"
    assert TIME_LINE.search("".join(first["source"])), (
        f"{path.name}: no line '**Time on 2 CPU cores with the defaults:** about N minutes (measured: …)'")
