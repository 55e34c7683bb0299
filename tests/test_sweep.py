"""aelab sweep: grid expansion and validation, parallel resumable runs, failures kept, the table over seeds,
commands for a job array, and the ready-made grids of notebooks/sweeps/."""

import csv
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from figure_content import assert_drawn
from notebook_fixtures import write_notebook
import pytest
import yaml

from aelab import cli
from aelab.sweep import collect, load_grid
from aelab.sweep.grid import GridError, grid_from_dict
from aelab.sweep.lock import alive, read_holder
from aelab.sweep.parameters import ParameterError
from aelab.sweep.runner import is_done, point_folder, run_points

SWEEPS = Path(__file__).resolve().parents[1] / "notebooks" / "sweeps"


def write_tiny_notebook(path: Path) -> Path:
    """A notebook that takes x, label, seed and fail_on, and writes results.json (or raises when x == fail_on)."""
    return write_notebook(
        path, 'x = 1\nlabel = "a"\nseed = 0\nfail_on = -1\noutput_dir = "."',
        'if x == fail_on:\n    raise ValueError(f"planted failure at x={x}")',
        'import json, pathlib\nresults = {"score": {"value": 10 * x + seed, "length": len(label)}, "note": "text", '
        '"items": [1, 2]}\npathlib.Path(output_dir, "results.json").write_text(json.dumps(results))', title="tiny")


def write_grid(folder: Path, **values) -> Path:
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump({"notebook": "tiny.ipynb", "output": str(folder / "out"), **values}))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    write_tiny_notebook(folder / "tiny.ipynb")
    return folder


def test_expansion_product_zip_and_seeds(tiny):
    grid = grid_from_dict({"notebook": "tiny.ipynb", "fixed": {"fail_on": 7},
                           "product": {"x": [1, 2]}, "zip": {"label": ["a", "bb", "ccc"], "seed": [5, 6, 7]}},
                          tiny / "g.yaml")
    points = grid.points()
    assert [(p.parameters["x"], p.parameters["label"], p.parameters["seed"]) for p in points] == [
        (1, "a", 5), (1, "bb", 6), (1, "ccc", 7), (2, "a", 5), (2, "bb", 6), (2, "ccc", 7)]
    assert all(p.parameters["fail_on"] == 7 for p in points)
    seeded = grid_from_dict({"notebook": "tiny.ipynb", "product": {"x": [1, 2], "label": ["a", "b"]},
                             "seeds": [0, 1, 2]}, tiny / "g.yaml").points()
    assert len(seeded) == 12 and [p.index for p in seeded] == list(range(12))
    assert [p.seed for p in seeded[:3]] == [0, 1, 2] and seeded[0].axes == {"x": 1, "label": "a"}
    assert len({p.name for p in seeded}) == 12


@pytest.mark.parametrize("values, key, expected", [
    ({"product": {"x": 3}}, "product.x", "expected a list"),
    ({"zip": {"x": [1, 2], "label": ["a"]}}, "zip", "one length"),
    ({"product": {"nope": [1]}}, "product", "'nope' is not a parameter of tiny.ipynb"),
    ({"fixed": {"x": 1}, "product": {"x": [1, 2]}}, "product.x", "also set in fixed"),
    ({"axes": {"x": [1]}}, "axes", "unknown key"),
    ({"seeds": []}, "seeds", "non-empty"),
    ({"reference": {"table": "PAPER_NONE", "key": ["{x}"], "columns": {}}}, "reference.table", "PAPER_000"),
    ({"notebook": "missing.ipynb"}, "notebook", "not found"),
])
def test_bad_grids_name_the_file_key_and_expectation(tiny, values, key, expected):
    path = tiny / "bad.yaml"
    path.write_text(yaml.safe_dump({"notebook": "tiny.ipynb", **values}))
    with pytest.raises((GridError, ParameterError)) as error:
        load_grid(path)
    assert str(path) in str(error.value) and key in str(error.value) and expected in str(error.value)


def test_malformed_yaml_is_reported_before_anything_runs(tiny, capsys):
    path = tiny / "broken.yaml"
    path.write_text("notebook: tiny.ipynb\nproduct: {x: [1, 2\n")
    assert cli.main(["sweep", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "YAML" in error and not (tiny / "out").exists()


@pytest.fixture(scope="module")
def swept(tiny):
    """x = 1 with seeds 0 and 3 (ok), x = 3 (fails in the notebook's second code cell), two at a time."""
    grid_path = write_grid(tiny, product={"x": [1, 3]}, fixed={"fail_on": 3}, seeds=[0, 3], metrics=["score.*"])
    code = cli.main(["sweep", str(grid_path), "--jobs", "2"])
    return grid_path, code


def test_failing_points_are_reported_with_cell_and_error_and_the_others_run(swept, capsys):
    grid_path, code = swept
    assert code == 1
    grid = load_grid(grid_path)
    points = grid.points()
    statuses = [json.loads((point_folder(grid, p) / "status.json").read_text()) for p in points]
    assert [s["status"] for s in statuses] == ["ok", "ok", "failed", "failed"]
    error = statuses[2]["error"]
    assert error["ename"] == "ValueError" and "planted failure at x=3" in error["evalue"]
    executed = nbformat.read(point_folder(grid, points[2]) / "executed.ipynb", 4)
    failing = [c for c in executed.cells if c.get("execution_count") == error["execution_count"]]
    assert len(failing) == 1 and failing[0].source == error["source"] and "planted failure" in error["source"]
    table = (grid.output / "table.md").read_text()
    assert table.count("planted failure at x=3") == 2 and f"In [{error['execution_count']}]" in table
    assert (point_folder(grid, points[0]) / "executed.ipynb").exists()
    assert json.loads((point_folder(grid, points[0]) / "point.json").read_text())["parameters"]["seed"] == 0


def test_table_gives_mean_and_std_over_seeds(swept):
    grid_path, _ = swept
    output = load_grid(grid_path).output
    with (output / "table.csv").open() as stream:
        rows = {row["x"]: row for row in csv.DictReader(stream)}
    assert float(rows["1"]["score.value mean"]) == pytest.approx(11.5)  # 10·1 + seeds 0 and 3
    assert float(rows["1"]["score.value std"]) == pytest.approx(2.1213203, rel=1e-6)  # sample std of 10, 13
    assert float(rows["1"]["score.length mean"]) == 1 and rows["1"]["seeds ok"] == "2"
    assert rows["3"]["failed"] == "2" and rows["3"]["score.value mean"] == ""
    assert "11.5 ± 2.1" in (output / "table.md").read_text()
    assert "11.5 ± 2.1" in (output / "table.html").read_text()
    assert_drawn(output / "plots" / "score.value.png", min_colours=16)  # bars, error bars and labels, not a blank
    with (output / "points.csv").open() as stream:
        points = list(csv.DictReader(stream))
    assert [p["status"] for p in points] == ["ok", "ok", "failed", "failed"] and "planted" in points[3]["error"]


def test_resume_skips_finished_points(swept, capsys):
    grid = load_grid(swept[0])
    done = grid.points()[:2]
    stamps = [(point_folder(grid, p) / "status.json").stat().st_mtime_ns for p in done]
    statuses = run_points(grid, done, jobs=2)
    assert all(statuses[p.index].ok for p in done)
    assert [(point_folder(grid, p) / "status.json").stat().st_mtime_ns for p in done] == stamps
    out = capsys.readouterr().out
    assert out.count("ok already, skipped") == 2 and "0 of 2 points to run" in out
    assert cli.main(["sweep", str(swept[0]), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("ok, skipped") == 2 and listing.count("to run") == 2
    changed = yaml.safe_load(swept[0].read_text())
    changed["fixed"]["fail_on"] = 4  # same folders, other parameters: not done
    other = grid_from_dict(changed, swept[0])
    assert other.output == grid.output and not is_done(other, other.points()[0]) and is_done(grid, done[0])


def test_printed_commands_run_as_printed(swept, tmp_path, capsys):
    grid = load_grid(swept[0])
    assert cli.main(["sweep", "--print-commands", str(swept[0])]) == 0
    commands = capsys.readouterr().out.strip().splitlines()
    assert len(commands) == 4 and all("--point" in c for c in commands)
    folder = point_folder(grid, grid.points()[1])
    (folder / "status.json").unlink()
    (folder / "results.json").unlink()
    finished = subprocess.run(commands[1], shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert json.loads((folder / "results.json").read_text())["score"]["value"] == 13
    assert shlex.split(commands[1])[-2:] == ["--point", "1"]


def test_collect_builds_the_table_from_the_output_folder(swept, capsys):
    output = load_grid(swept[0]).output
    (output / "table.csv").unlink()
    assert cli.main(["sweep", "--collect", str(output)]) == 1  # failed points make the exit status 1
    printed = capsys.readouterr().out
    assert "11.5 ± 2.1" in printed and "planted failure at x=3" in printed
    assert (output / "table.csv").exists()


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_ready_made_grids_are_valid_and_name_their_paper(path):
    grid = load_grid(path)
    assert grid.reference and grid.metrics and len(grid.points()) >= 3
    real = load_grid(path, root="/data/somewhere")
    assert all(p.parameters["root"] == "/data/somewhere" for p in real.points())
    assert real.points()[0].parameters["data"] != "synthae"
    assert real.output != grid.output and real.output.name.startswith(grid.output.name)


def write_sleepy_notebook(path: Path) -> Path:
    """A notebook whose kernel starts a ``sleep`` process, writes both PIDs to pids.txt, then sleeps."""
    return write_notebook(
        path, 'x = 1\noutput_dir = "."',
        'import os, pathlib, subprocess, time\nchild = subprocess.Popen(["sleep", "300"])\n'
        'pathlib.Path(output_dir, "pids.txt").write_text(f"{os.getpid()} {child.pid}")\ntime.sleep(300)')


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_sleepy_sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """``aelab sweep`` over two points of the sleepy notebook, one at a time, as a user starts it."""
    write_sleepy_notebook(tmp_path / "sleepy.ipynb")
    grid_path = tmp_path / "grid.yaml"
    grid_path.write_text(yaml.safe_dump({"notebook": "sleepy.ipynb", "output": str(tmp_path / "out"),
                                         "product": {"x": [1, 2]}}))
    sweep = subprocess.Popen([sys.executable, "-m", "aelab.cli", "sweep", str(grid_path), "--jobs", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return sweep, grid_path


def point_pid(folder: Path, sweep: subprocess.Popen) -> int | None:
    """The PID of the point's own process, once the sweep has handed it the point's lock."""
    holder = read_holder(folder)
    return holder.pid if holder and holder.pid != sweep.pid else None


def test_sigterm_stops_the_running_point_with_its_kernel_and_what_it_started(tmp_path):
    sweep, grid_path = start_sleepy_sweep(tmp_path)
    try:
        grid = load_grid(grid_path)
        first, second = (point_folder(grid, p) for p in grid.points())
        pids = wait_for(lambda: (first / "pids.txt").exists() and (first / "pids.txt").read_text().split(), 240,
                        "the kernel to start")
        running = [point_pid(first, sweep), *map(int, pids)]  # the point's process, its kernel, the kernel's sleep
        assert all(running) and all(alive(pid) for pid in running)
        sweep.send_signal(signal.SIGTERM)
        sweep.communicate(timeout=60)
    finally:
        sweep.kill()
        sweep.communicate()
    assert sweep.returncode != 0
    wait_for(lambda: not any(alive(pid) for pid in running), 5, f"processes {running} to end")
    status = json.loads((first / "status.json").read_text())
    assert status["status"] == "interrupted" and not (first / "lock.json").exists()
    assert not (second / "status.json").exists()  # the next point never started
    assert not is_done(grid, grid.points()[0])


def test_ctrl_c_ends_the_sweep_with_one_line(tmp_path):
    sweep, grid_path = start_sleepy_sweep(tmp_path)
    try:
        grid = load_grid(grid_path)
        first = point_folder(grid, grid.points()[0])
        child = wait_for(lambda: point_pid(first, sweep), 120, "the point's process to take its lock")
        sweep.send_signal(signal.SIGINT)
        out, err = sweep.communicate(timeout=60)
    finally:
        sweep.kill()
        sweep.communicate()
    assert sweep.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "interrupted" in lines[0], err
    wait_for(lambda: not alive(child), 5, "the point's process to end")
    assert json.loads((first / "status.json").read_text())["status"] == "interrupted"
