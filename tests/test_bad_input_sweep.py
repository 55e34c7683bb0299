"""aelab sweep / demo given bad values: a grid value or a ``--set`` value whose type differs from the notebook's
default is one line naming the file (or flag), the key, the value and the expected type, before anything runs; a
point whose lock names a live process is not started again, a stale lock is taken over. No kernel is started."""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from aelab import cli
from aelab.errors import ConfigError
from aelab.report import DemoOptions, DemoStep
from aelab.report.demo import check_plan
from aelab.sweep import load_grid
from aelab.sweep.lock import LOCK, PointBusy, acquire, alive, live_holder, release, start_ticks
from aelab.sweep.parameters import ParameterError
from aelab.sweep.runner import point_folder, run_point, run_points

DEFAULTS = 'count = 1\nrate = 0.5\nlabel = "a"\nanything = None\nlayers = [1, 2]\nflag = True\nseed = 0\n' \
           'made = list(range(2))\ndata = "synthae"\nroot = None\n' \
           'blocks: "Union[str, list]" = "auto"  # "auto" or a list\nlimit: "Optional[int]" = None\noutput_dir = "."'


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("typed")
    cell = nbformat.v4.new_code_cell(DEFAULTS)
    cell.metadata["tags"] = ["parameters"]
    book = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell("raise RuntimeError('never run')")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, folder / "typed.ipynb")
    return folder / "typed.ipynb"


def grid_file(notebook: Path, tmp_path: Path, **values) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"notebook": str(notebook), "output": str(tmp_path / "out"), **values}))
    return path


@pytest.mark.parametrize("values, key, given, expected", [
    ({"product": {"count": [1, "two"]}}, "product.count[1]", "'two'", "an integer"),
    ({"product": {"rate": [0.1, [0.2]]}}, "product.rate[1]", "[0.2]", "a number"),
    ({"fixed": {"count": 2.5}}, "fixed.count", "2.5", "an integer"),
    ({"fixed": {"count": True}}, "fixed.count", "True", "an integer"),
    ({"zip": {"label": ["a", 3], "count": [1, 2]}}, "zip.label[1]", "3", "a string"),
    ({"fixed": {"layers": 3}}, "fixed.layers", "3", "a list"),
    ({"fixed": {"flag": 1}}, "fixed.flag", "1", "true or false"),
    ({"seeds": [0, "one"]}, "seeds[1]", "'one'", "an integer"),
    ({"product": {"count": [None]}}, "product.count[0]", "None", "an integer"),
    ({"product": {"blocks": ["auto", 3]}}, "product.blocks[1]", "3", "a list or a string"),
    ({"fixed": {"limit": "ten"}}, "fixed.limit", "'ten'", "an integer or null"),
])
def test_dry_run_names_a_value_of_the_wrong_type(notebook, tmp_path, capsys, values, key, given, expected):
    path = grid_file(notebook, tmp_path, **values)
    assert cli.main(["sweep", str(path), "--dry-run"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    line = lines[0]
    assert str(path) in line and key in line and given in line and expected in line, line
    assert "typed.ipynb" in line and not (tmp_path / "out").exists()


def test_real_data_values_are_named_where_they_were_written(notebook, tmp_path):
    path = grid_file(notebook, tmp_path, real_data={"label": 7})
    with pytest.raises(ConfigError, match=r"real_data\.label: got 7, expected a string"):
        load_grid(path, root="/data/x")


def test_values_of_a_compatible_type_are_accepted(notebook, tmp_path):
    path = grid_file(notebook, tmp_path, fixed={"rate": 2, "anything": [1, "x"], "made": "not a literal default",
                                                "limit": None}, product={"layers": [[3], []], "label": ["b"],
                                                                         "blocks": ["auto", ["3a", "4b"]]},
                     seeds=[1, 2])
    assert len(load_grid(path).points()) == 8


def test_unknown_grid_parameters_are_still_refused(notebook, tmp_path):
    with pytest.raises(ParameterError, match="'epochs' is not a parameter of typed.ipynb"):
        load_grid(grid_file(notebook, tmp_path, fixed={"epochs": 2}))


def demo_steps(notebook: Path) -> dict[str, DemoStep]:
    return {"typed": DemoStep(notebook.name, "typed", parameters={"count": 2})}


@pytest.mark.parametrize("overrides, parameter, message", [
    ({"typed": {"count": "many"}}, "--set typed.count", "got 'many', expected an integer"),
    ({"typed": {"rate": "fast"}}, "--set typed.rate", "got 'fast', expected a number"),
])
def test_demo_set_values_are_checked_against_the_defaults(notebook, overrides, parameter, message):
    with pytest.raises(ConfigError) as error:
        check_plan(demo_steps(notebook), notebook.parent, DemoOptions(overrides=overrides))
    assert str(error.value).startswith(f"{parameter}: {message}") and "typed.ipynb" in str(error.value)


def test_demo_set_accepts_right_types_and_refuses_unknown_names(notebook):
    check_plan(demo_steps(notebook), notebook.parent, DemoOptions(overrides={"typed": {"rate": 1, "anything": "x"}}))
    with pytest.raises(ParameterError, match="'nope' is not a parameter"):
        check_plan(demo_steps(notebook), notebook.parent, DemoOptions(overrides={"typed": {"nope": 1}}))


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def plant_lock(folder: Path, pid: int, host: str | None = None, ticks: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "ticks": ticks}))


def test_a_point_locked_by_a_live_process_is_not_started(notebook, tmp_path, capsys):
    grid = load_grid(grid_file(notebook, tmp_path, product={"count": [1, 2]}))
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        points = grid.points()
        for point in points:
            plant_lock(point_folder(grid, point), sleeper.pid)
        statuses = run_points(grid, points, jobs=1)
        out = capsys.readouterr().out
        assert out.count(f"running in PID {sleeper.pid} on {socket.gethostname()}") == 2 and "skipped" in out
        assert all(statuses[p.index] is None for p in points)
        assert not any((point_folder(grid, p) / "log.txt").exists() for p in points)
        assert cli.main(["sweep", str(grid.source), "--point", "1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"PID {sleeper.pid}" in err[0] and "skipped" in err[0]
        assert json.loads((point_folder(grid, points[1]) / LOCK).read_text())["pid"] == sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_lock_from_another_host_is_respected(notebook, tmp_path):
    grid = load_grid(grid_file(notebook, tmp_path))
    point = grid.points()[0]
    plant_lock(point_folder(grid, point), dead_pid(), host="elsewhere.example")
    with pytest.raises(PointBusy, match="on elsewhere.example"):
        run_point(grid, point)


def test_a_stale_lock_is_taken_over(tmp_path):
    plant_lock(tmp_path, dead_pid())
    assert live_holder(tmp_path) is None
    assert acquire(tmp_path) is None
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    release(tmp_path)
    assert not (tmp_path / LOCK).exists()


def test_a_reused_pid_does_not_keep_a_lock_alive(tmp_path):
    plant_lock(tmp_path, os.getpid(), ticks=start_ticks(os.getpid()))
    assert live_holder(tmp_path) is not None and acquire(tmp_path / "other") is None
    if start_ticks(os.getpid()) is None:
        pytest.skip("no /proc: process start times are unknown here")
    plant_lock(tmp_path, os.getpid(), ticks=start_ticks(os.getpid()) - 1)  # same PID, another process
    assert live_holder(tmp_path) is None and acquire(tmp_path) is None


def test_a_zombie_is_not_alive():
    zombie = subprocess.Popen(["true"])
    try:
        for _ in range(100):
            if not alive(zombie.pid):
                break
            time.sleep(0.05)
        assert not alive(zombie.pid)
    finally:
        zombie.wait()
