"""Notebook 06 (image–text aesthetics, paper 002) runs headless through papermill with tiny parameters and records
the co-attention check, with each figure titled by its number; the row of the full model without its comments is
computed in aelab.train.image_text."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from figure_content import assert_drawn, assert_same_drawing
from notebook_fixtures import run_from_fresh_folder

import aelab.train.image_text as image_text
from aelab.reference import PAPER_002_AVA_M
from aelab.train.image_text import COMMENTS_REMOVED, without_comments
from aelab.viz.figure_file import saved_titles, wrap_title
from aelab.viz.training import learning_curves

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_image_text_aesthetics.ipynb"

TINY = {"n_images": 80, "image_size": 32, "epochs": 1, "batch_size": 16, "width": 16, "heads": 2, "layers": 1,
        "max_tokens": 24, "backbone_options": {"widths": [8, 8, 16, 16], "convs": [1, 1, 1, 1]},
        "variants": ["mcn_mtl", "mcn", "mcn_no_ctrm", "image_only"], "interactive": False}


def test_notebook_trains_the_variants_and_draws_attention(tmp_path):
    """Run from an empty folder without ``output_dir``: everything lands in its default output folder."""
    out = run_from_fresh_folder(NOTEBOOK, tmp_path, TINY)
    executed = tmp_path / "executed" / NOTEBOOK.name
    cwd = tmp_path / "cwd"  # run folders are recorded relative to the folder the notebook ran in
    results = json.loads((out / "results.json").read_text())
    assert [row["variant"] for row in results["table"]] == [*TINY["variants"], f"mcn_mtl, {COMMENTS_REMOVED}"]
    full = results["table"][0]
    paper = PAPER_002_AVA_M["mcn_mtl"]
    assert full["paper ACC %"] == paper["accuracy"] and full["paper SRCC"] == paper["srcc"]
    assert 0 <= full["ACC %"] <= 100 and full["style mAP"] is not None
    assert results["table"][1]["style mAP"] is None  # the single-task variant has no style head
    removed = results["table"][-1]
    assert removed["ACC %"] == pytest.approx(100 * results["without_comments"]["aesthetic_score"]["accuracy"])
    assert removed["style mAP"] == pytest.approx(results["without_comments"]["style"]["map"])
    for name, folder in results["runs"].items():
        assert (cwd / folder / "checkpoints" / "best.pt").exists(), name
    assert results["figures"] == ["learning_curves.png", "attention_0.png", "attention_1.png", "attention_2.png"]
    # the learning curves are those of the full model's run, as the test draws them from its logs, under the title
    # that states the test accuracy against the other variants
    curves_title = saved_titles(out / "learning_curves.png")[0]
    assert curves_title.startswith(f"mcn_mtl: test ACC {full['ACC %']:.1f} %")
    assert f"image_only {results['table'][3]['ACC %']:.1f} %" in curves_title
    again = learning_curves(cwd / results["runs"]["mcn_mtl"], results["config"]["tasks"])
    again.suptitle(curves_title)
    again.tight_layout()
    wrap_title(again)
    assert_same_drawing(out / "learning_curves.png", again, dpi=90)
    for figure in results["figures"][1:]:  # the image, and word maps or bars: many colours, not a blank canvas
        assert_drawn(out / figure, min_colours=200)
        titled = " ".join(saved_titles(out / figure)[0].split())  # the comment's check and the spread, in numbers
        assert re.search(r"largest weight \d\.\d\d vs 0\.\d\d for an even spread", titled), titled
        assert "co-attention (MTRL layer 1)" in titled
    check = results["coattention_focus"]  # subject words ("subject", colours, shapes) against their box area
    assert all(isinstance(check[key], (int, float)) for key in ("value", "chance", "ratio", "n"))
    assert check["n"] > 0 and check["function"]["n"] > 0 and isinstance(check["passed"], bool)
    assert f"{check['ratio']:.1f}× its area" in check["description"]
    assert any(c.get("outputs") for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code")


METRICS = {"aesthetic_score": {"accuracy": 0.625, "srcc": 0.25, "plcc": 0.5}, "style": {"map": float("nan")}}


def fake_run(arch: str, name: str = "mcn_mtl") -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(arch=arch, name=name))


def test_without_comments_row_of_the_full_model(monkeypatch):
    seen = []
    monkeypatch.setattr(image_text, "evaluate_without_comments", lambda run, split: seen.append(split) or METRICS)
    metrics, rows = without_comments(fake_run("mcn", "mcn"), split="val")
    assert seen == ["val"] and metrics is METRICS
    assert rows == [{"variant": f"mcn, {COMMENTS_REMOVED}", "arch": "mcn", "ACC %": 62.5, "SRCC": 0.25,
                     "PLCC": 0.5, "style mAP": None}]  # a style mAP that is not a number is no number


@pytest.mark.parametrize("arch", ["mcn_no_ctrm", "mcn_image"])
def test_without_comments_is_empty_for_other_architectures(monkeypatch, arch):
    def never(run, split):
        raise AssertionError("evaluated a model that is not the full co-attention model")

    monkeypatch.setattr(image_text, "evaluate_without_comments", never)
    assert without_comments(fake_run(arch)) == ({}, [])
