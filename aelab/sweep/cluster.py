"""The Dask executor: a grid's points as tasks of a Dask distributed cluster (a local one, or the scheduler of a
cluster started by dask-jobqueue on SLURM/PBS or on Kubernetes). Each task runs its point exactly as the local
executor does (:func:`aelab.sweep.runner.run_one`: the point's lock, its own process group, its folder and status
file); the workers must see the sweep's output folder (a shared file system). A cancelled task, a closing worker or
a stopped sweep stops the point with its kernel and records it as interrupted."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from aelab.errors import AelabError
from aelab.sweep.execute import Status, read_status
from aelab.sweep.grid import Grid, Point
from aelab.sweep.processes import GRACE_SECONDS, signals_ignored, sigterm_interrupts
from aelab.sweep.runner import cores, gpu_count, pending, point_env, point_folder, run_one

CONNECT_SECONDS = 20.0  # how long to try reaching a scheduler
EVENT_CHECK_SECONDS = 1.0  # how often a task asks the scheduler whether its sweep was stopped
WAIT_SECONDS = 30.0  # beyond the grace period, how long a stopped sweep waits for its tasks to record their points
ENDED = ("closing", "closed", "failed", "stopping", "stopped")  # worker states in which a task stops its point


def require_distributed() -> ModuleType:
    """The ``distributed`` module, or an error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise AelabError("--executor dask needs Dask distributed, which is not installed; "
                         "install it with: pip install 'aelab[cluster]'") from None
    return distributed


def _stop_check(distributed: ModuleType, event_name: str) -> Callable[[], bool]:
    """A function telling a running task to stop: its task was cancelled (by its client or because the client went
    away), its worker is closing, or its sweep set the stop event (checked every ``EVENT_CHECK_SECONDS``)."""
    worker = distributed.get_worker()
    key = worker.get_current_task()
    event = distributed.Event(event_name)
    checked = [-EVENT_CHECK_SECONDS]

    def stop() -> bool:
        task = worker.state.tasks.get(key)
        if task is None or task.state == "cancelled" or worker.status.name in ENDED:
            return True
        if time.monotonic() - checked[0] < EVENT_CHECK_SECONDS:
            return False
        checked[0] = time.monotonic()
        try:
            return event.is_set()
        except Exception:  # the scheduler cannot be reached: keep running, the task state still tells
            return False

    return stop


def run_point_task(grid: Grid, point: Point, threads: int | None, event_name: str, local: bool,
                   grace: float = GRACE_SECONDS) -> list[str]:
    """The body of one Dask task: run ``point`` in a process group of its own and return the lines to print.
    ``threads`` per point (None: the worker's cores over its task threads); on a local cluster the worker's number
    picks its GPU, as a slot does in the local executor."""
    distributed = require_distributed()
    worker = distributed.get_worker()
    stop = _stop_check(distributed, event_name)
    if stop():
        return [f"[sweep] {point.name}: not started, the sweep was stopped"]
    threads = threads or cores(worker.state.nthreads)
    slot = worker.name if local and isinstance(worker.name, int) else None
    env = point_env(threads, slot, gpu_count() if slot is not None else 0)
    messages: list[str] = []
    run_one(grid, point, env, messages.append, stop, grace)
    return messages


@contextlib.contextmanager
def connect(distributed: ModuleType, scheduler: str | None, jobs: int) -> Iterator[tuple[Any, str]]:
    """A client of the cluster at ``scheduler``, or of a local cluster of ``jobs`` workers (threads of this
    process, one task each: a task only waits on its point's process); and words saying where."""
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=False, dashboard_address=":0"))
            client = stack.enter_context(distributed.Client(cluster))
            yield client, f"a local Dask cluster of {jobs} workers"
            return
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError, TypeError) as error:
            raise AelabError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there "
                             f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                             "expected an address such as tcp://HOST:8786") from None
        stack.enter_context(client)
        yield client, f"the Dask cluster at {scheduler}"


def _report(future: Any, point: Point, say: Callable[[str], None]) -> None:
    """Print a finished task's lines, or why the task itself failed (its point's status says the rest)."""
    try:
        lines = future.result()
    except Exception as error:  # a lost worker, an import error on the worker, a cancelled task …
        detail = str(error).splitlines()[0] if str(error) else ""
        lines = [f"[sweep] {point.name}: its Dask task failed: {type(error).__name__}: {detail}"]
    for line in lines:
        say(line)


def run_points_dask(grid: Grid, points: Sequence[Point], scheduler: str | None = None, jobs: int = 1,
                    say: Callable[[str], None] = print, grace: float = GRACE_SECONDS) -> dict[int, Status | None]:
    """Run the points not yet done as tasks of a Dask cluster (``scheduler``'s, else a local one of ``jobs``
    workers); return every point's status, as :func:`aelab.sweep.runner.run_points` does. On Ctrl-C or SIGTERM the
    tasks are told to stop; each stops its point and records it as interrupted, and KeyboardInterrupt propagates."""
    distributed = require_distributed()
    grid = dataclasses.replace(grid, notebook=grid.notebook.resolve(), output=grid.output.resolve())
    threads = cores(jobs) if scheduler is None else None
    with connect(distributed, scheduler, jobs) as (client, where):
        todo = pending(grid, points, say)
        say(f"[sweep] {len(todo)} of {len(points)} points to run on {where} → {grid.output}")
        token = uuid.uuid4().hex[:8]
        stop_event = distributed.Event(f"aelab-sweep-stop-{token}", client=client)
        futures: dict[Any, Point] = {}
        reported: set[Any] = set()
        with sigterm_interrupts():
            try:
                for point in todo:
                    futures[client.submit(run_point_task, grid, point, threads, stop_event.name, scheduler is None,
                                          grace, key=f"aelab-{point.name}-{token}")] = point
                for future in distributed.as_completed(futures):
                    reported.add(future)
                    _report(future, futures[future], say)
            except BaseException:
                with signals_ignored():
                    stop_event.set()
                    with contextlib.suppress(Exception):
                        distributed.wait(list(futures), timeout=grace + WAIT_SECONDS)
                    for future, point in futures.items():
                        if future not in reported and future.done():
                            _report(future, point, say)
                    client.cancel(list(futures))
                raise
    return {p.index: read_status(point_folder(grid, p)) for p in points}
