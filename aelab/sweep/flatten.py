"""Nested ``results.json`` → flat ``{"test.aesthetic.accuracy": 0.81, …}``, and choosing metrics by pattern."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from typing import Any


def flatten(results: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every finite number inside nested dicts of ``results``, keyed by its dotted path. Lists, strings, booleans
    and nulls are not metrics and are left out."""
    flat: dict[str, float] = {}
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat


def select_metrics(available: Iterable[str], patterns: Iterable[str] | None) -> list[str]:
    """The metric names matching ``patterns`` (exact names or shell-style globs such as ``test.*.accuracy``), in
    the order of the patterns; every available metric when ``patterns`` is empty."""
    available = list(dict.fromkeys(available))
    if not patterns:
        return available
    chosen: list[str] = []
    for pattern in patterns:
        chosen += [name for name in available if fnmatch.fnmatchcase(name, pattern) and name not in chosen]
    return chosen
