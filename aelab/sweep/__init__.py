"""Papermill batch runs: a YAML grid of notebook parameters (``grid``), its points run in parallel and resumably
(``runner``, ``execute``), and one table over them (``collect``, ``report``, ``plots``)."""

from aelab.sweep.collect import Collected, collect
from aelab.sweep.grid import Grid, GridError, Point, load_grid
from aelab.sweep.report import write_outputs
from aelab.sweep.runner import print_commands, run_point, run_points

__all__ = ["Collected", "Grid", "GridError", "Point", "collect", "load_grid", "print_commands", "run_point",
           "run_points", "write_outputs"]
