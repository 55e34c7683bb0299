"""Where a sweep's points run: ``local`` (process groups on this machine, N at once) or ``dask`` (tasks of a Dask
distributed cluster). Both give the same folders, status files, locks, skipping of finished points and table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aelab.errors import ConfigError, UnknownNameError
from aelab.sweep.execute import Status
from aelab.sweep.grid import Grid, Point
from aelab.sweep.runner import default_jobs, run_points


@dataclass(frozen=True)
class ExecutorOptions:
    """How to run: points at once (None: the default), a Dask scheduler's address, where to print progress."""

    jobs: int | None = None
    scheduler: str | None = None
    say: Callable[[str], None] = field(default=print)


Executor = Callable[[Grid, Sequence[Point], ExecutorOptions], dict[int, Status | None]]


def run_local(grid: Grid, points: Sequence[Point], options: ExecutorOptions) -> dict[int, Status | None]:
    """Process groups on this machine, ``jobs`` at a time (:func:`aelab.sweep.runner.run_points`)."""
    if options.scheduler is not None:
        raise ConfigError("--scheduler", options.scheduler, "no scheduler with --executor local "
                                                            "(a scheduler address goes with --executor dask)")
    return run_points(grid, points, options.jobs or default_jobs(), options.say)


def run_dask(grid: Grid, points: Sequence[Point], options: ExecutorOptions) -> dict[int, Status | None]:
    """Tasks of the Dask cluster at ``scheduler``, or of a local cluster of ``jobs`` workers
    (:func:`aelab.sweep.cluster.run_points_dask`)."""
    from aelab.sweep.cluster import require_distributed, run_points_dask

    require_distributed()
    if options.scheduler is not None and options.jobs is not None:
        raise ConfigError("--jobs", options.jobs, "no --jobs with --scheduler (the cluster's workers decide how "
                                                  "many points run at once)")
    return run_points_dask(grid, points, options.scheduler, options.jobs or default_jobs(), options.say)


EXECUTORS: dict[str, Executor] = {"local": run_local, "dask": run_dask}


def execute_points(executor: str, grid: Grid, points: Sequence[Point],
                   options: ExecutorOptions | None = None) -> dict[int, Status | None]:
    """Run ``points`` with the executor named ``executor`` (a key of :data:`EXECUTORS`); return their statuses."""
    if executor not in EXECUTORS:
        raise UnknownNameError("sweep executor", executor, list(EXECUTORS))
    return EXECUTORS[executor](grid, points, options or ExecutorOptions())
