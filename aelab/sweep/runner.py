"""Running a grid's points: each in its own folder, N at once, finished points skipped, and the one command per
point that a cluster job array can run instead."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aelab.notebook import write_json_atomic
from aelab.sweep.execute import Status, execute_notebook, read_status
from aelab.sweep.grid import Grid, Point

POINTS = "points"


def point_folder(grid: Grid, point: Point) -> Path:
    """``<output>/points/<point name>/``: executed.ipynb, results.json, status.json, point.json."""
    return grid.output / POINTS / point.name


def save_grid(grid: Grid) -> Path:
    """Write the resolved grid to ``<output>/grid.yaml`` (what ``--collect`` and ``--point`` read back)."""
    import yaml

    grid.output.mkdir(parents=True, exist_ok=True)
    path = grid.output / "grid.yaml"
    temporary = path.with_name(f".grid.yaml.{os.getpid()}.tmp")
    temporary.write_text(yaml.safe_dump(grid.to_dict(), sort_keys=False))
    os.replace(temporary, path)
    return path


def run_point(grid: Grid, point: Point) -> Status:
    """Execute one point into its folder (its parameters saved first as ``point.json``)."""
    folder = point_folder(grid, point)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic({"index": point.index, "notebook": str(grid.notebook), "parameters": point.parameters,
                       "axes": point.axes, "seed": point.seed}, folder / "point.json")
    return execute_notebook(grid.notebook, folder, point.parameters)


def is_done(grid: Grid, point: Point) -> bool:
    """True when the point finished with an ok status and the same parameters (a re-run skips it); a folder left
    by a grid with other fixed parameters is run again."""
    folder = point_folder(grid, point)
    status = read_status(folder)
    if not (status and status.ok):
        return False
    try:
        recorded = json.loads((folder / "point.json").read_text())["parameters"]
    except (OSError, ValueError, KeyError):
        return False
    return recorded == json.loads(json.dumps(point.parameters))


def point_command(grid: Grid, point: Point) -> list[str]:
    """A self-contained command running ``point`` (absolute paths; works from any directory)."""
    return [sys.executable, "-m", "aelab.cli", "sweep", str(grid.output.resolve() / "grid.yaml"),
            "--point", str(point.index)]


def print_commands(grid: Grid, points: Sequence[Point]) -> list[str]:
    """One shell line per point, for a job array (``sed -n "${TASK_ID}p" commands.txt | sh``)."""
    save_grid(grid)
    return [shlex.join(point_command(grid, point)) for point in points]


def gpu_count() -> int:
    """Visible CUDA devices (0 without torch or a GPU)."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch, broken driver: run on CPUs
        return 0


def default_jobs() -> int:
    """One point per GPU when there are GPUs, else one per two CPU cores (each point's torch gets two threads)."""
    return gpu_count() or max(1, (os.cpu_count() or 1) // 2)


def run_points(grid: Grid, points: Sequence[Point], jobs: int,
               say: Callable[[str], None] = print) -> dict[int, Status]:
    """Run the points not yet done, ``jobs`` at a time, each as its own process (the command of
    :func:`point_command`, output in the point's ``log.txt``); return every point's status."""
    save_grid(grid)
    todo = [p for p in points if not is_done(grid, p)]
    for point in points:
        if point not in todo:
            say(f"[sweep] {point.name}: ok already, skipped")
    gpus = gpu_count()
    slots = list(range(max(1, jobs)))
    free, lock = list(slots), threading.Lock()
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))

    def one(point: Point) -> None:
        with lock:
            slot = free.pop()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
        folder = point_folder(grid, point)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with (folder / "log.txt").open("w") as log:
                subprocess.run(point_command(grid, point), stdout=log, stderr=subprocess.STDOUT, env=env,
                               check=False)
        finally:
            with lock:
                free.append(slot)
        status = read_status(folder)
        if status is None:
            say(f"[sweep] {point.name}: no status written, see {folder / 'log.txt'}")
        elif status.ok:
            say(f"[sweep] {point.name}: ok in {status.seconds:.0f} s")
        else:
            say(f"[sweep] {point.name}: FAILED at {status.error.describe()}")

    say(f"[sweep] {len(todo)} of {len(points)} points to run, {max(1, jobs)} at a time → {grid.output}")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, todo))
    return {p.index: read_status(point_folder(grid, p)) for p in points}
