"""What every faithfulness check returns: a number, its chance level (or control), the criterion and the verdict."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def _number(value: float) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if isinstance(value, float) and math.isnan(value):  # the check's measure has no value for this input
        return "undefined"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@dataclass
class CheckResult:
    """One faithfulness check.

    name: what is checked (figure-title words); value: the measured number; chance: the same number by chance or on
    a control; criterion: what ``value`` must satisfy, in words; passed: whether it does.
    """

    name: str
    value: float
    chance: float
    criterion: str
    passed: bool

    def describe(self) -> str:
        """One line for a figure title: the number, its chance level, the criterion and the verdict."""
        verdict = "pass" if self.passed else "FAIL"
        return (f"{self.name}: {_number(self.value)} (chance {_number(self.chance)}; needs {self.criterion}) "
                f"— {verdict}")

    def as_dict(self) -> dict:
        """Every field as JSON-ready values (a notebook's results.json), with the line :meth:`describe` gives."""
        return {**asdict(self), "description": self.describe()}
