"""Notebook 05 (Grad-CAM) runs headless from an empty folder with small parameters, writes only into its default
output folder, and its results and figure titles hold the checks' numbers."""

import json
import math
from pathlib import Path

from notebook_fixtures import run_from_fresh_folder

from aelab.reference_model import reference_run
from aelab.viz.figure_file import saved_titles

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_grad_cam.ipynb"
SMALL = {"n_inspect": 12, "shown": 4, "splices": 8, "interactive": False}


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def title(folder: Path, figure: str) -> str:
    return " ".join(saved_titles(folder / figure)[0].split())


def test_grad_cam_notebook_records_and_titles_its_checks(tmp_path):
    out = run_from_fresh_folder(NOTEBOOK, tmp_path, SMALL)  # the reference run, compared with its shipped baseline
    results = json.loads((out / "results.json").read_text())
    focus, spliced = results["subject_focus"], results["spliced_check"]
    assert all(number(focus[k]) for k in ("value", "chance", "ratio", "n"))
    assert focus["layer"] == "aesthetic.stage3" and isinstance(focus["passed"], bool)
    assert focus["ratio"] == results["cam_mass_in_box"]["aesthetic@aesthetic.stage3 predicted"] / focus["chance"]
    assert number(spliced["value"]) and spliced["n"] == SMALL["splices"] and 0 <= spliced["value"] <= 1
    comparison = results["focus_comparison"]
    assert number(comparison["value"]) and comparison["chance"] == 0.2
    aesthetic = comparison["tasks"]["aesthetic"]
    assert aesthetic["in_box"]["n"] > 0 and number(aesthetic["concentration"]["mean"])
    # the multi-task maps at the last connector, the baseline's at its last stage: two different runs
    assert aesthetic["multi_layer"] == "aesthetic.connector5" and aesthetic["single_layer"] == "aesthetic.stage5"
    assert results["run"] == str(reference_run()) and number(results["mean_box_area"])
    assert title(out, "cam_aesthetic_aesthetic.stage3.png") == focus["description"]
    assert f"{focus['ratio']:.1f}×" in focus["description"]
    assert title(out, "spliced.png") == spliced["description"]
    emotion = results["spliced_check_emotion"]  # pairs of two different emotions, each map its own image's class
    assert emotion["layer"] == "emotion.stage3" and emotion["maps"] == 2 * SMALL["splices"] and number(emotion["value"])
    assert title(out, "emotion_spliced.png") == emotion["description"]
    assert f"{spliced['value']:.0%}" in spliced["description"]
    assert {"cam_aesthetic_low_aesthetic.stage3.png", "cam_aesthetic_high_aesthetic.stage3.png",
            "cam_emotion_emotion.stage3.png", "spliced.png"} <= set(results["figures"])
    for figure in results["figures"]:  # every figure is titled with a share, a ratio or a count
        assert any(mark in title(out, figure) for mark in ("%", "×")), figure
        assert results["figure_checks"][figure], figure
