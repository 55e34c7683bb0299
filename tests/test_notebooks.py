"""Notebooks: committed clean with one parameters cell; the small commands. Every notebook runs headless with tiny
parameters in the demo chain (test_demo.py); 04 and 06 also in their own tests."""

import json
from pathlib import Path

import pytest
from figure_content import assert_drawn

from aelab import cli

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert cells[0]["cell_type"] == "markdown" and "CPU" in "".join(cells[0]["source"])
    assert not [c for c in code if c.get("outputs") or c.get("execution_count")]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0]
    assert "interactive = True" in "".join(tagged[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_writes_under_runs_by_default(path):
    """Run with its defaults, a notebook writes into its own folder under ``runs/``, never into the folder it was
    started from."""
    from aelab.sweep.parameters import notebook_parameters

    default = notebook_parameters(path)["output_dir"]
    assert default == f'"runs/notebooks/{path.stem}"', f"{path.name}: output_dir = {default}"


def test_preview_and_export_commands(tmp_path, capsys):
    output = tmp_path / "grid.png"
    assert cli.main(["preview", "--output", str(output), "--count", "4", "--size", "32"]) == 0
    assert_drawn(output, min_colours=50)  # four SynthAE images: many colours, no flat canvas
    assert cli.main(["export", str(tmp_path / "uae"), "--layout", "uae", "--n", "12", "--size", "32"]) == 0
    assert "uae" in capsys.readouterr().out
    from aelab.data import read_dataset

    assert len(read_dataset("uae", tmp_path / "uae")) == 12


def test_cli_reports_aelab_errors_in_one_line(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "x"), "--layout", "nonsense", "--n", "2"]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert "--layout" in error and "'nonsense'" in error and "synthae" in error  # parameter, value, what is expected
