"""Notebook 06 (image–text aesthetics, paper 002) runs headless through papermill with tiny parameters."""

import json
from pathlib import Path

from aelab import cli

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_image_text_aesthetics.ipynb"

TINY = {"n_images": 80, "image_size": 32, "epochs": 1, "batch_size": 16, "width": 16, "heads": 2, "layers": 1,
        "max_tokens": 24, "backbone_options": {"widths": [8, 8, 16, 16], "convs": [1, 1, 1, 1]},
        "variants": ["mcn_mtl", "mcn", "mcn_no_ctrm", "image_only"], "interactive": False}


def test_notebook_is_clean_with_one_parameters_cell():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0] and "interactive = True" in "".join(tagged[0]["source"])
    assert not any(c.get("outputs") or c.get("execution_count") for c in code)


def test_notebook_trains_the_variants_and_draws_attention(tmp_path):
    executed = cli.run_notebook(NOTEBOOK, tmp_path, TINY)  # figures and results.json land beside it
    out = executed.parent
    results = json.loads((out / "results.json").read_text())
    assert [row["variant"] for row in results["table"]] == [*TINY["variants"], "mcn_mtl, comments removed"]
    full = results["table"][0]
    assert full["paper ACC %"] == 85.63 and full["paper SRCC"] == 0.7835
    assert 0 <= full["ACC %"] <= 100 and full["style mAP"] is not None
    assert results["table"][1]["style mAP"] is None  # the single-task variant has no style head
    for name, folder in results["runs"].items():
        assert (Path(folder) / "checkpoints" / "best.pt").exists(), name
    assert "attention_0.png" in results["figures"]
    for figure in results["figures"]:
        assert (out / figure).stat().st_size > 3000, figure
    assert any(c.get("outputs") for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code")
