"""The SynthAE reference run shipped in the package: loads as a run, matches the committed recipe, reaches its
accuracy goals on fresh images, and is found from an installed (non-editable) package without a network."""

import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

import aelab
from aelab.errors import AelabError
from aelab.reference_model import (BASELINE_FOLDER, FRESH_SEED, RUN_FILES, RUN_FOLDER, ceiling_table, format_table,
                                   fresh_accuracy, recipe_path, reference_recipe, reference_run, shipped_run_folder)
from aelab.train.runs import read_config
from aelab.viz.render import layer_channels

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"aesthetic": 0.84, "emotion": 0.92}
"""Accuracy goals on fresh SynthAE images (the oracle reaches about 0.88 and 0.99)."""
SHIPPED = {"aesthetic": 0.857, "emotion": 0.928}
"""What the shipped run reached on 2,000 fresh images (seed 20240)."""
FRESH_N = 1000


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AELAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_shipped_run_is_small_and_complete():
    folder = shipped_run_folder()
    sizes = [(folder / name).stat().st_size for name in RUN_FILES]
    assert sum(sizes) <= 5 * 2**20
    assert set(torch.load(folder / "checkpoints" / "best.pt", weights_only=True)) == {"model", "epoch", "config"}


def test_reference_run_is_a_writable_copy_that_loads_as_a_run(cache, one_thread):
    folder = aelab.reference_run()
    assert folder.parent == cache and folder == reference_run()
    loaded = aelab.load_run(folder, device="cpu")
    assert loaded.config["arch"] == "afi" and loaded.config["backbone"] == "tiny"
    outputs = loaded.model(torch.zeros(2, 3, 64, 64))
    assert outputs["aesthetic"].shape == (2,) and outputs["emotion"].shape == (2, 8)
    # AFI after every stage, the last one included
    assert len(loaded.model.connectors) == len(loaded.model.branches["aesthetic"].stages)


def test_the_explorers_first_atlas_ships_with_the_run(cache, one_thread, monkeypatch):
    """A first look at the reference run in the explorer renders nothing: its first layer's atlas is in the copy."""
    import aelab.viz.atlas as atlas_module
    from aelab.widgets.explorer import Explorer

    def no_render(*args, **kwargs):
        raise AssertionError("the shipped atlas was rendered again")

    monkeypatch.setattr(atlas_module, "render", no_render)
    explorer = Explorer(aelab.reference_run(), n_images=2)
    first = explorer.layers[-1]  # the layer the explorer opens on
    atlas = explorer.atlas(first)
    assert atlas.shape == (layer_channels(explorer.model, first), 3, 64, 64)
    assert atlas.std() > 0.01  # rendered pictures, not a blank


def test_recorded_config_is_the_committed_recipe():
    recorded = read_config(shipped_run_folder())
    written = yaml.safe_load(recipe_path().read_text())["config"]  # every setting the recipe fixes
    recipe = reference_recipe().to_dict()
    assert set(written) >= {"n_images", "arch", "backbone", "epochs", "seed", "lr", "optimizer", "model_options"}
    assert {k: recorded.get(k) for k in written} == {k: recipe[k] for k in written}
    assert recipe["seed"] != FRESH_SEED


def test_baseline_is_the_recipe_with_one_network_per_task(cache, one_thread):
    """Paper 000 Fig. 5's baseline: the committed recipe with arch single, shipped small, loadable as a run."""
    folder = shipped_run_folder(BASELINE_FOLDER)
    assert sum((folder / name).stat().st_size for name in RUN_FILES) <= 5 * 2**20
    written = yaml.safe_load(recipe_path().read_text())["config"]
    recipe = reference_recipe(arch="single").to_dict()
    assert {k: read_config(folder).get(k) for k in written} == {k: recipe[k] for k in written}
    copy = aelab.reference_baseline_run()
    assert copy.parent == cache and copy != reference_run()
    loaded = aelab.load_run(copy, device="cpu")
    outputs = loaded.model(torch.zeros(2, 3, 64, 64))
    assert outputs["aesthetic"].shape == (2,) and outputs["emotion"].shape == (2, 8)
    assert not hasattr(loaded.model, "connectors")  # no exchange between the two networks


def test_the_baseline_is_found_for_any_copy_of_the_reference_and_for_no_other_run(cache, tmp_path):
    import shutil

    from aelab.reference_model import baseline_of

    copy = tmp_path / "my-copy"
    shutil.copytree(shipped_run_folder(), copy)
    assert baseline_of(shipped_run_folder()) == baseline_of(reference_run()) == baseline_of(copy)
    assert baseline_of(copy) == aelab.reference_baseline_run()
    assert baseline_of(aelab.reference_baseline_run()) is None  # the baseline has no twin of its own
    weights = copy / "checkpoints" / "best.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 1  # same size, another weight
    weights.write_bytes(bytes(data))
    assert baseline_of(copy) is None and baseline_of(tmp_path / "no-run") is None


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The shipped run's accuracy on a few hundred fresh images (seconds)."""
    previous, threads = os.environ.get("AELAB_CACHE"), torch.get_num_threads()
    os.environ["AELAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    torch.set_num_threads(1)
    try:
        yield fresh_accuracy(reference_run(), n=FRESH_N)
    finally:
        torch.set_num_threads(threads)
        if previous is None:
            os.environ.pop("AELAB_CACHE")
        else:
            os.environ["AELAB_CACHE"] = previous


def _within_sampling_error(accuracy: float, level: float) -> bool:
    return accuracy >= level - 2.5 * math.sqrt(level * (1 - level) / FRESH_N)


def test_reference_keeps_what_it_learned(fresh):
    """The levels the shipped run measured on 2,000 fresh images (docs/reference_model.md), within sampling error."""
    assert _within_sampling_error(fresh["aesthetic"], SHIPPED["aesthetic"]), fresh
    assert _within_sampling_error(fresh["emotion"], SHIPPED["emotion"]), fresh


def test_reference_reaches_its_goals_on_fresh_images(fresh):
    """The goals within the sampling error of a 1,000-image sample (2.5 standard errors, about 3 points). This is a
    check that the shipped run is near its goals, not that it meets them: docs/reference_model.md reports the
    accuracy on 2,000 fresh images against the goals themselves."""
    for task, goal in GOALS.items():
        assert _within_sampling_error(fresh[task], goal), (task, fresh[task])


def test_ceiling_table_puts_the_reference_between_floor_and_ceiling(cache, one_thread):
    rows = {row["model"]: row for row in ceiling_table({"reference": reference_run()}, n=200)}
    assert list(rows) == ["majority", "oracle", "reference"]
    for task in GOALS:
        assert rows["majority"][f"{task} %"] < rows["reference"][f"{task} %"] <= rows["oracle"][f"{task} %"] + 5
        assert rows["reference"][f"{task} gap %"] > 15
    assert "reference" in format_table(list(rows.values()))


def test_table_command_names_a_folder_that_is_not_a_run_in_one_line(capsys, tmp_path, one_thread):
    from aelab.reference_model import main

    with pytest.raises(SystemExit) as stop:
        main(["--n", "8", "--run", f"mine={tmp_path}"])
    error = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in error and "Traceback" not in error
    assert str(tmp_path) in error and "not a run folder" in error
    with pytest.raises(SystemExit):
        main(["--n", "0"])
    assert "--n: expected at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--seed", "-1"])
    assert "--seed: expected a SynthAE seed >= 0, got -1" in capsys.readouterr().err


def test_a_missing_shipped_file_is_named(monkeypatch, tmp_path):
    import aelab.reference_model as reference

    (tmp_path / "reference_run").mkdir()
    monkeypatch.setattr(reference, "_asset", lambda name: tmp_path / name)
    with pytest.raises(AelabError, match=r"reference_run lacks config.yaml, .*retrain the reference run"):
        reference.reference_run()


def test_installed_package_finds_the_run_offline(tmp_path):
    """Build a wheel, install it into a bare folder and ask that copy of aelab for the run (no network needed)."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True, timeout=240)
    wheel = next(wheel_dir.glob("aelab-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {f"aelab/assets/{folder}/{name}" for folder in (RUN_FOLDER, BASELINE_FOLDER) for name in RUN_FILES}
    assert shipped <= set(names)
    assert "aelab/assets/reference_recipe.yaml" in names
    assert any(name.startswith("aelab/assets/reference_run/atlas/") and name.endswith("/atlas.pt") for name in names)
    zipfile.ZipFile(wheel).extractall(target)
    env = {**os.environ, "PYTHONPATH": str(target), "AELAB_CACHE": str(tmp_path / "cache"), "PYTHONNOUSERSITE": "1"}
    code = "import aelab; f = aelab.reference_run(); print(f); print(aelab.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert Path(out[0]).parent == tmp_path / "cache" and (Path(out[0]) / "checkpoints" / "best.pt").exists()
    assert Path(out[1]).is_relative_to(target)


# ---- the tiny backbone's pixel coordinates -----------------------------------------------------------------


def test_coords_let_the_tiny_backbone_tell_positions_apart(one_thread):
    from aelab.models.backbones import build_backbone

    flat = torch.full((1, 3, 64, 64), 0.5)
    torch.manual_seed(0)
    plain = build_backbone("tiny").eval()
    torch.manual_seed(0)
    located = build_backbone("tiny", coords=(1,)).eval()
    with torch.no_grad():
        inner_plain = plain.stages[0](flat)[..., 2:-2, 2:-2]
        inner_located = located.stages[0](flat)[..., 2:-2, 2:-2]
    assert inner_plain.std(dim=(2, 3)).max() < 1e-5  # a flat image looks the same everywhere without them
    assert inner_located.std(dim=(2, 3)).max() > 1e-3
    assert [m.in_channels for m in located.modules() if isinstance(m, torch.nn.Conv2d)][0] == 5


@pytest.mark.parametrize("coords", [(0,), (6,), ("1",)])
def test_bad_coords_are_named(coords):
    from aelab.errors import ConfigError
    from aelab.models.backbones import build_backbone

    with pytest.raises(ConfigError, match=r"tiny backbone coords: got .*expected stage numbers 1..5"):
        build_backbone("tiny", coords=coords)
