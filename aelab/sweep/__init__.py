"""Papermill batch runs: a YAML grid of notebook parameters (``grid``), its points run in parallel and resumably
(``runner``, ``execute``) on this machine or as tasks of a Dask cluster (``executors``, ``cluster``), and one table
over them (``collect``, ``report``, ``plots``)."""

from aelab.sweep.collect import Collected, collect
from aelab.sweep.executors import EXECUTORS, ExecutorOptions, execute_points
from aelab.sweep.grid import Grid, GridError, Point, load_grid
from aelab.sweep.report import write_outputs
from aelab.sweep.runner import print_commands, run_point, run_points

__all__ = ["EXECUTORS", "Collected", "ExecutorOptions", "Grid", "GridError", "Point", "collect", "execute_points",
           "load_grid", "print_commands", "run_point", "run_points", "write_outputs"]
