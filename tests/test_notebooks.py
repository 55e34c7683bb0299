"""Notebooks: committed clean with one parameters cell; a list parameter given as text stops a notebook before it
trains; notebook 01 run headless with its default output folder; the small commands. Every notebook runs headless
with tiny parameters in the demo chain (test_demo.py); 04 and 06 also in their own tests, 00 in
test_teaching_commands.py (the command docs/teaching.md shows). The parameter names: test_notebook_vocabulary.py."""

import json
from pathlib import Path

import papermill
import pytest
from figure_content import assert_drawn
from notebook_fixtures import assert_written_only_to_output, files_under, run_from_fresh_folder

from aelab import cli
from aelab.errors import ConfigError
from aelab.notebook import require_collections

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


TRAIN = cli.NOTEBOOKS / "01_train_multitask.ipynb"
TINY_TRAINING = {"n_images": 160, "image_size": 32, "epochs": 1, "batch_size": 32, "compare": [], "ceiling_n": 40,
                 "interactive": False}


def test_training_notebook_writes_only_into_its_default_folder(tmp_path):
    """Started from an empty folder without ``output_dir``, notebook 01 puts its figures, results.json and the run
    it trained under ``runs/notebooks/01_train_multitask/`` there, and nothing anywhere else in that folder."""
    output = run_from_fresh_folder(TRAIN, tmp_path, TINY_TRAINING)
    results = json.loads((output / "results.json").read_text())
    run = tmp_path / "cwd" / results["run"]
    assert output in run.parents and (run / "checkpoints" / "best.pt").is_file()
    assert [row["arch"] for row in results["comparison"]] == ["afi"]  # compare = [] trains nothing more


def test_a_file_outside_the_output_folder_is_found(tmp_path):
    output = tmp_path / "runs" / "notebooks" / "00_synthae_tour"
    output.mkdir(parents=True)
    (output / "results.json").write_text("{}")
    assert assert_written_only_to_output(tmp_path, "00_synthae_tour") == output
    (tmp_path / "runs" / "stray.png").write_bytes(b"")
    with pytest.raises(AssertionError, match="stray.png"):
        assert_written_only_to_output(tmp_path, "00_synthae_tour")
    assert_written_only_to_output(tmp_path, "00_synthae_tour", also=("runs/stray.png",))
    (output / "results.json").unlink()
    with pytest.raises(AssertionError, match="no results.json"):
        assert_written_only_to_output(tmp_path, "00_synthae_tour", also=("runs/stray.png",))


def test_a_list_given_as_text_stops_the_notebook_before_training(tmp_path):
    """``papermill -p compare "[single]"`` passes the text "[single]": the first code cell says to use -y, in one
    line naming the parameter, and nothing is trained."""
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(TRAIN), str(tmp_path / "executed.ipynb"), cwd=str(tmp_path),
                                   parameters={**TINY_TRAINING, "compare": "[single]"}, progress_bar=False,
                                   kernel_name="python3")
    assert error.value.ename == "ConfigError"
    assert error.value.evalue.startswith("compare: got '[single]', expected a list") and "-y" in error.value.evalue
    assert "\n" not in error.value.evalue
    assert files_under(tmp_path) == {Path("executed.ipynb")}  # no output folder, no run: stopped before training


@pytest.mark.parametrize("lists, mappings, words, parameter", [
    ({"compare": "[single]"}, {}, (), "compare"),
    ({"compare": ["single"]}, {"init": "{}"}, (), "init"),
    ({"aux_layers": "best"}, {}, ("auto",), "aux_layers"),
    ({"layers": 3}, {}, (), "layers"),
])
def test_require_collections_names_the_parameter_and_the_yaml_option(lists, mappings, words, parameter):
    with pytest.raises(ConfigError) as error:
        require_collections(lists, mappings, words)
    assert error.value.parameter == parameter and f'-y "{parameter}: ' in str(error.value)


def test_require_collections_accepts_lists_mappings_and_allowed_words():
    require_collections({"compare": [], "pair": ("a", "b"), "aux_layers": "auto"}, {"init": {}}, ("auto",))


def test_require_collections_lets_only_the_optional_ones_be_none():
    require_collections({"compare_fractions": None}, optional=("compare_fractions",))
    with pytest.raises(ConfigError, match="compare: got None, expected a list"):
        require_collections({"compare": None, "compare_fractions": None}, optional=("compare_fractions",))


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
