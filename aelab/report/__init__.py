"""The demo (notebooks run in a chain) and its HTML report."""

from aelab.report.demo import DemoFailed, DemoOptions, run_demo
from aelab.report.page import write_report
from aelab.report.plan import DEMO_STEPS, DemoStep

__all__ = ["DEMO_STEPS", "DemoFailed", "DemoOptions", "DemoStep", "run_demo", "write_report"]
