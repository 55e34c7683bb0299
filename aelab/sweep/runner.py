"""Running a grid's points: each in its own folder and process group, N at once, finished points skipped, a point
still running elsewhere (its lock names a live process) never started twice, every point stopped and recorded as
interrupted when the sweep is; and the one command per point that a cluster job array can run instead."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aelab.io import write_json_atomic, write_yaml_atomic
from aelab.sweep.execute import STATUS, Status, execute_notebook, read_status
from aelab.sweep.grid import Grid, Point
from aelab.sweep.lock import PointBusy, acquire, read_holder, release
from aelab.sweep.processes import GRACE_SECONDS, signals_ignored, sigterm_interrupts, start_group, stop_groups

POINTS = "points"


def point_folder(grid: Grid, point: Point) -> Path:
    """``<output>/points/<point name>/``: executed.ipynb, results.json, status.json, point.json."""
    return grid.output / POINTS / point.name


def save_grid(grid: Grid) -> Path:
    """Write the resolved grid to ``<output>/grid.yaml`` (what ``--collect`` and ``--point`` read back)."""
    return write_yaml_atomic(grid.to_dict(), grid.output / "grid.yaml")


def run_point(grid: Grid, point: Point) -> Status:
    """Execute one point into its folder (its parameters saved first as ``point.json``) while holding the point's
    lock; raise :class:`~aelab.sweep.lock.PointBusy` when a live process holds it (the point runs there)."""
    folder = point_folder(grid, point)
    holder = acquire(folder)
    if holder is not None:
        raise PointBusy(f"{point.name}: {holder.describe()}; skipped")
    try:
        write_json_atomic({"index": point.index, "notebook": str(grid.notebook), "parameters": point.parameters,
                           "axes": point.axes, "seed": point.seed}, folder / "point.json")
        return execute_notebook(grid.notebook, folder, point.parameters)
    finally:
        release(folder)


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


def cores(processes: int = 1) -> int:
    """The CPU cores this process may use (a batch job's allocation, not the whole node's) shared among
    ``processes``; at least 1."""
    from aelab.train.device_settings import available_cores

    return available_cores(processes)


def default_jobs() -> int:
    """One point per GPU when there are GPUs, else one per two CPU cores (each point's torch gets two threads)."""
    return gpu_count() or cores(2)


@dataclass
class _Running:
    """A point whose process runs: the process (a group of its own), its GPU/CPU slot and its open log."""

    point: Point
    process: subprocess.Popen
    slot: int
    log: IO
    start: float = field(default_factory=time.monotonic)


def _start(grid: Grid, point: Point, slot: int, env: dict[str, str],
           say: Callable[[str], None]) -> _Running | None:
    """Lock the point for this sweep (its process takes the lock over) and start it; None when it runs elsewhere."""
    folder = point_folder(grid, point)
    holder = acquire(folder)
    if holder is not None:
        say(f"[sweep] {point.name}: {holder.describe()}, skipped")
        return None
    log = (folder / "log.txt").open("w")
    try:
        return _Running(point, start_group(point_command(grid, point), log, env), slot, log)
    except BaseException:
        log.close()
        release(folder)
        raise


def point_env(threads: int, slot: int | None = None, gpus: int = 0) -> dict[str, str]:
    """A point process's environment: ``threads`` OpenMP/MKL threads and, with GPUs and a slot, GPU
    ``slot % gpus`` alone (``CUDA_VISIBLE_DEVICES``)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if gpus and slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    return env


def pending(grid: Grid, points: Sequence[Point], say: Callable[[str], None] = print) -> list[Point]:
    """Save the grid beside its points and return the points not yet done, saying which are skipped."""
    save_grid(grid)
    todo = [p for p in points if not is_done(grid, p)]
    for point in points:
        if point not in todo:
            say(f"[sweep] {point.name}: ok already, skipped")
    return todo


def _finish(grid: Grid, job: _Running, say: Callable[[str], None]) -> None:
    """Close a finished point's log, drop a lock its process left, say how it went."""
    job.log.close()
    folder = point_folder(grid, job.point)
    release(folder, (job.process.pid, os.getpid()))
    status, name = read_status(folder), job.point.name
    if status is None:
        say(f"[sweep] {name}: no status written, see {folder / 'log.txt'}")
    elif status.ok:
        say(f"[sweep] {name}: ok in {status.seconds:.0f} s")
    elif status.error is not None:
        say(f"[sweep] {name}: FAILED at {status.error.describe()}")
    else:
        say(f"[sweep] {name}: {status.status}, see {folder / 'log.txt'}")


def _interrupted(grid: Grid, job: _Running) -> None:
    """Record a stopped point as interrupted (not ok: a re-run runs it again) and drop its lock."""
    job.log.close()
    folder = point_folder(grid, job.point)
    ours = (job.process.pid, os.getpid())
    holder, status = read_holder(folder), read_status(folder)
    if (holder is None or holder.pid in ours) and not (status and status.ok):
        write_json_atomic(Status("interrupted", str(grid.notebook), round(time.monotonic() - job.start, 2),
                                 parameters=status.parameters if status else job.point.parameters).to_dict(),
                          folder / STATUS)
    release(folder, ours)


def _stop(grid: Grid, jobs: Sequence[_Running], grace: float) -> None:
    """Stop running points with all they started and record them as interrupted; a second Ctrl-C waits."""
    with signals_ignored():
        stop_groups([job.process for job in jobs], grace)
        for job in jobs:
            _interrupted(grid, job)


def run_one(grid: Grid, point: Point, env: dict[str, str], say: Callable[[str], None] = print,
            stop: Callable[[], bool] = lambda: False, grace: float = GRACE_SECONDS,
            poll: float = 0.2) -> Status | None:
    """Run one point in its own process group as :func:`run_points` does and wait for it; return its status, or
    None when a live process holds its lock (skipped). When ``stop()`` turns true, or an exception (Ctrl-C)
    arrives, the point is stopped with everything it started and recorded as interrupted."""
    job = _start(grid, point, 0, env, say)
    if job is None:
        return None
    try:
        while job.process.poll() is None:
            if stop():
                _stop(grid, [job], grace)
                say(f"[sweep] {point.name}: interrupted, a re-run runs it again")
                return read_status(point_folder(grid, point))
            time.sleep(poll)
    except BaseException:
        _stop(grid, [job], grace)
        raise
    _finish(grid, job, say)
    return read_status(point_folder(grid, point))


def run_points(grid: Grid, points: Sequence[Point], jobs: int, say: Callable[[str], None] = print,
               grace: float = GRACE_SECONDS) -> dict[int, Status]:
    """Run the points not yet done, ``jobs`` at a time, each as its own process group (the command of
    :func:`point_command`, output in the point's ``log.txt``); return every point's status. A point whose lock a
    live process holds is skipped. On Ctrl-C or SIGTERM every running point is stopped with all it started
    (SIGTERM, SIGKILL after ``grace`` seconds), recorded as interrupted, and KeyboardInterrupt propagates."""
    todo = pending(grid, points, say)
    gpus, jobs = gpu_count(), max(1, jobs)
    threads = cores(jobs)
    free, running = list(range(jobs)), {}
    say(f"[sweep] {len(todo)} of {len(points)} points to run, {jobs} at a time → {grid.output}")
    with sigterm_interrupts():
        try:
            while todo or running:
                while todo and free:
                    slot = free.pop()
                    job = _start(grid, todo.pop(0), slot, point_env(threads, slot, gpus), say)
                    if job is None:
                        free.append(slot)
                    else:
                        running[job.point.index] = job
                for index, job in list(running.items()):
                    if job.process.poll() is not None:
                        del running[index]
                        free.append(job.slot)
                        _finish(grid, job, say)
                time.sleep(0.1)
        except BaseException:
            _stop(grid, list(running.values()), grace)
            raise
    return {p.index: read_status(point_folder(grid, p)) for p in points}
