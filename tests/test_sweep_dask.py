"""aelab sweep --executor dask: points as tasks of a Dask cluster (a scheduler's, or a local one) with the folders,
status files, failure reporting, skipping of finished points and table of the local executor; a cancelled task or
a stopped sweep stops its point with its kernel; without the extra, one line saying what to install."""

import importlib.util
import json
import signal
import subprocess
import sys
import uuid

import pytest
import yaml
from test_sweep import alive, point_pid, tiny, wait_for, write_grid, write_sleepy_notebook  # noqa: F401 (tiny: a fixture)

from aelab import cli
from aelab.sweep import load_grid
from aelab.sweep.runner import point_folder, save_grid

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="dask.distributed is not installed (pip install 'aelab[cluster]')")


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 workers (threads of this process, one task each), as a scheduler address."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as local:
        yield local


@needs_dask
def test_points_run_as_tasks_of_a_scheduler_then_a_rerun_skips_the_finished_one(tiny, cluster, capsys):
    grid_path = write_grid(tiny, product={"x": [1, 3]}, fixed={"fail_on": 3}, metrics=["score.*"])
    assert cli.main(["sweep", str(grid_path), "--executor", "dask", "--scheduler", cluster.scheduler_address]) == 1
    out = capsys.readouterr().out
    assert f"2 of 2 points to run on the Dask cluster at {cluster.scheduler_address}" in out
    grid = load_grid(grid_path)
    ok, failing = (point_folder(grid, p) for p in grid.points())
    assert json.loads((ok / "status.json").read_text())["status"] == "ok"
    assert json.loads((ok / "results.json").read_text())["score"]["value"] == 10
    failed = json.loads((failing / "status.json").read_text())
    assert failed["status"] == "failed" and "planted failure at x=3" in failed["error"]["evalue"]
    assert "FAILED at" in out and "planted failure at x=3" in (grid.output / "table.md").read_text()
    assert not (ok / "lock.json").exists() and not (failing / "lock.json").exists()
    assert (ok / "log.txt").exists() and (ok / "executed.ipynb").exists()

    stamp = (ok / "status.json").stat().st_mtime_ns
    assert cli.main(["sweep", str(grid_path), "--executor", "dask", "--jobs", "2"]) == 1  # a local cluster
    out = capsys.readouterr().out
    assert "ok already, skipped" in out and "1 of 2 points to run on a local Dask cluster of 2 workers" in out
    assert (ok / "status.json").stat().st_mtime_ns == stamp
    assert json.loads((failing / "status.json").read_text())["status"] == "failed"  # run again, failed again


@needs_dask
def test_a_cancelled_task_stops_its_point_and_kernel(tmp_path, cluster):
    from distributed import Client

    from aelab.sweep.cluster import run_point_task

    write_sleepy_notebook(tmp_path / "sleepy.ipynb")
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump({"notebook": "sleepy.ipynb", "output": str(tmp_path / "out"),
                                                        "product": {"x": [1]}}))
    grid = load_grid(tmp_path / "grid.yaml")
    save_grid(grid)
    point = grid.points()[0]
    folder = point_folder(grid, point)
    with Client(cluster) as client:
        future = client.submit(run_point_task, grid, point, 1, f"never-set-{uuid.uuid4().hex}", False, 5.0)
        pids = wait_for(lambda: (folder / "pids.txt").exists() and (folder / "pids.txt").read_text().split(), 240,
                        "the kernel to start")
        running = [*map(int, pids)]  # the kernel and the process it started
        assert all(alive(pid) for pid in running)
        future.cancel()
        wait_for(lambda: not any(alive(pid) for pid in running), 60, f"processes {running} to end")
    wait_for(lambda: not (folder / "lock.json").exists(), 30, "the point's lock to be released")
    assert json.loads((folder / "status.json").read_text())["status"] == "interrupted"


@needs_dask
def test_sigterm_to_a_dask_sweep_stops_its_points_and_marks_them_interrupted(tmp_path):
    write_sleepy_notebook(tmp_path / "sleepy.ipynb")
    grid_path = tmp_path / "grid.yaml"
    grid_path.write_text(yaml.safe_dump({"notebook": "sleepy.ipynb", "output": str(tmp_path / "out"),
                                         "product": {"x": [1]}}))
    sweep = subprocess.Popen([sys.executable, "-m", "aelab.cli", "sweep", str(grid_path), "--executor", "dask",
                              "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        folder = point_folder(load_grid(grid_path), load_grid(grid_path).points()[0])
        pids = wait_for(lambda: (folder / "pids.txt").exists() and (folder / "pids.txt").read_text().split(), 240,
                        "the kernel to start")
        running = [point_pid(folder, sweep), *map(int, pids)]
        assert all(running) and all(alive(pid) for pid in running)
        sweep.send_signal(signal.SIGTERM)
        out, err = sweep.communicate(timeout=90)
    finally:
        sweep.kill()
        sweep.communicate()
    assert sweep.returncode != 0 and "interrupted" in err and "Traceback" not in err, err
    wait_for(lambda: not any(alive(pid) for pid in running), 5, f"processes {running} to end")
    assert json.loads((folder / "status.json").read_text())["status"] == "interrupted"
    assert not (folder / "lock.json").exists() and "interrupted, a re-run runs it again" in out


def test_without_the_extra_the_dask_executor_says_what_to_install(tiny, monkeypatch, capsys):
    grid_path = write_grid(tiny, product={"x": [1]}, output=str(tiny / "no_dask"))
    monkeypatch.setitem(sys.modules, "distributed", None)  # an import of it fails as if it were absent
    assert cli.main(["sweep", str(grid_path), "--executor", "dask"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'aelab[cluster]'" in err[0], err
    assert not (tiny / "no_dask").exists()


@pytest.mark.parametrize("flags, expected", [
    (["--executor", "local", "--scheduler", "tcp://somewhere:8786"], "--scheduler: got 'tcp://somewhere:8786'"),
    (["--scheduler", "tcp://somewhere:8786", "--jobs", "3"], "--jobs: got 3"),
    (["--jobs", "0"], "--jobs: got 0, expected a positive number"),
])
def test_flags_that_do_not_go_together_are_one_line_errors(tiny, flags, expected, capsys):
    if "--jobs" in flags and "--scheduler" in flags and importlib.util.find_spec("distributed") is None:
        pytest.skip("dask.distributed is not installed (pip install 'aelab[cluster]')")
    grid_path = write_grid(tiny, product={"x": [1]}, output=str(tiny / "flags"))
    assert cli.main(["sweep", str(grid_path), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tiny / "flags").exists()


@needs_dask
def test_an_unreachable_scheduler_is_one_line(tiny, monkeypatch, capsys):
    from aelab.sweep import cluster

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1.0)
    grid_path = write_grid(tiny, product={"x": [1]}, output=str(tiny / "unreachable"))
    assert cli.main(["sweep", str(grid_path), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--scheduler tcp://127.0.0.1:9: cannot reach a Dask scheduler" in err[0], err
