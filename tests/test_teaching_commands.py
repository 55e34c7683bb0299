"""The commands docs/teaching.md shows a teacher run as written: every fenced block right after an
``<!-- tested -->`` comment — the python blocks with the virtual environment's python, the shell blocks with bash —
from a fresh folder laid out like the repository root (``.venv`` and ``notebooks`` linked in), with ``AELAB_CACHE``
in a folder of the test's own. Among them: ``aelab --help``, notebook 00 headless with tiny parameters (which must
write only into its default output folder) and the explorer opened on the reference run, built without a browser.

``make demo`` and ``make test``, which the page also names, are not run here: they take minutes (the demo's
notebooks run in test_demo.py, and the tests are this suite)."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from notebook_fixtures import assert_written_only_to_output, files_under

from aelab.sweep.parameters import check_parameters

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "teaching.md"
BLOCK = re.compile(r"^<!-- tested -->\n```(\w+)\n(.*?)^```$", re.M | re.S)
RUNNERS = {"bash": ["bash", "-euo", "pipefail", "-c"], "python": [str(ROOT / ".venv" / "bin" / "python"), "-c"]}
"""How a block of each language is run."""
LINKED = (".venv", "notebooks")


def marked_blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of each block the page marks as tested, in page order."""
    return [(language, code) for language, code in BLOCK.findall(PAGE.read_text(encoding="utf-8"))]


BLOCKS = marked_blocks()


def test_the_page_marks_the_walk_to_the_explorer():
    codes = [code for _, code in BLOCKS]
    assert {language for language, _ in BLOCKS} <= set(RUNNERS), "a tested block in a language no runner knows"
    assert any("aelab --help" in code for code in codes)
    assert any("papermill notebooks/00_synthae_tour.ipynb" in code for code in codes)
    assert any("Explorer(aelab.reference_run()).widget()" in code for code in codes)


def papermill_parameters(code: str) -> list[tuple[str, list[str]]]:
    """``(notebook, parameter names)`` of each papermill command in a shell block (``-p``/``-r`` names and the
    keys of ``-y`` YAML)."""
    found = []
    for command in code.replace("\\\n", " ").splitlines():
        words = shlex.split(command, comments=True)
        if not words or not words[0].endswith("papermill"):
            continue
        names = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-p", "-r")]
        names += [key for i, word in enumerate(words[:-1]) if word == "-y" for key in yaml.safe_load(words[i + 1])]
        found.append((next(word for word in words if word.endswith(".ipynb")), names))
    return found


def test_papermill_commands_name_parameters_the_notebooks_have():
    """papermill only warns about a parameter a notebook lacks; the page must not teach one (in any shell block,
    tested or not)."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.M | re.S)
    commands = [found for code in blocks for found in papermill_parameters(code)]
    assert len(commands) >= 4
    for notebook, names in commands:
        check_parameters(ROOT / notebook, names, f"{PAGE.name}: papermill {notebook}")


@pytest.mark.parametrize("language, code", BLOCKS, ids=[f"{i}-{lang}" for i, (lang, _) in enumerate(BLOCKS)])
def test_block_runs_as_written(language, code, tmp_path):
    cwd = tmp_path / "clone"
    cwd.mkdir()
    for name in LINKED:
        (cwd / name).symlink_to(ROOT / name)
    before = files_under(cwd)
    env = {**os.environ, "AELAB_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*RUNNERS[language], code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{PAGE.name} block failed:\n{code}\n--- stderr ---\n{done.stderr[-3000:]}"
    if "notebooks/00_synthae_tour.ipynb" in code:
        executed = re.search(r"00_synthae_tour\.ipynb\s+(\S+\.ipynb)", code).group(1)
        assert_written_only_to_output(cwd, "00_synthae_tour", before, also=(executed,))
