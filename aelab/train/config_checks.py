"""Value checks for :class:`~aelab.train.config.TrainConfig` and the commands that take the same values.

Each check is a function ``(parameter, value) -> value`` that returns the value in its plain Python type
(numpy integers become ``int``, paths ``str``, tuples lists where a list is stored) or raises
:class:`~aelab.errors.ConfigError` naming the parameter, the value given and what is expected. Checks are
built by the small factories below so that the table of fields in ``config.py`` reads as a specification.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from aelab.errors import ConfigError

Check = Callable[[str, Any], Any]

DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
DEVICES = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def choices(value: Any, known: Iterable[str]) -> str:
    """"one of: a, b, c" and, when ``value`` looks like a typo of one of them, which one."""
    known = [str(k) for k in known]
    close = difflib.get_close_matches(str(value), known, n=1) if isinstance(value, str) else []
    return f"one of: {', '.join(known)}" + (f" (did you mean {close[0]!r}?)" if close else "")


def integer(minimum: int | None = None, optional: bool = False) -> Check:
    """An integer (not a bool, not a float) of at least ``minimum``; ``None`` too when ``optional``."""
    expected = "an integer" + ("" if minimum is None else f" >= {minimum}") + (" or null" if optional else "")

    def check(parameter: str, value: Any) -> int | None:
        if value is None and optional:
            return None
        if not _is_int(value) or (minimum is not None and value < minimum):
            raise ConfigError(parameter, value, expected)
        return int(value)

    return check


def number(minimum: float = 0.0, *, positive: bool = False, optional: bool = False) -> Check:
    """A finite number of at least ``minimum`` (above it when ``positive``); ``None`` too when ``optional``."""
    bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
    expected = f"a number {bound}" + (" or null" if optional else "")

    def check(parameter: str, value: Any) -> float | None:
        if value is None and optional:
            return None
        if not _is_number(value) or not math.isfinite(value) or value < minimum or (positive and value == minimum):
            raise ConfigError(parameter, value, expected)
        return float(value)

    return check


def boolean(parameter: str, value: Any) -> bool:
    """``True`` or ``False`` (YAML: true/false, yes/no); 0 and 1 are refused."""
    if not isinstance(value, bool):
        raise ConfigError(parameter, value, "true or false")
    return value


def text(optional: bool = False) -> Check:
    """A non-empty string (a path object is turned into its string); ``None`` too when ``optional``."""
    expected = "a non-empty string" + (" or null" if optional else "")

    def check(parameter: str, value: Any) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value:
            raise ConfigError(parameter, value, expected)
        return value

    return check


def mapping(parameter: str, value: Any) -> dict:
    """A dict with string keys (its values are the business of whoever reads it)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(parameter, value, "a mapping of option names to values, e.g. {name: value}")
    return dict(value)


def one_of(names: Callable[[], Iterable[str]]) -> Check:
    """A name of a registry; ``names`` is called at check time so that registries are imported lazily."""

    def check(parameter: str, value: Any) -> str:
        known = list(names())
        if not isinstance(value, str) or value not in known:
            raise ConfigError(parameter, value, choices(value, known))
        return value

    return check


def name_list(names: Callable[[], Iterable[str]]) -> Check:
    """A non-empty list of distinct registry names (a tuple is accepted and stored as a list)."""

    def check(parameter: str, value: Any) -> list[str]:
        known = list(names())
        expected = f"a non-empty list of distinct names from: {', '.join(known)}, e.g. [{known[0]}]"
        if not isinstance(value, (list, tuple)) or not value or len(set(map(repr, value))) != len(value):
            raise ConfigError(parameter, value, expected)
        for item in value:
            if not isinstance(item, str) or item not in known:
                raise ConfigError(parameter, item, choices(item, known))
        return list(value)

    return check


def fractions(parameter: str, value: Any) -> tuple[float, float, float]:
    """Three non-negative numbers (train, validation, test) summing to 1 (the papers split 0.7, 0.1, 0.2)."""
    expected = "three non-negative numbers (train, validation, test) summing to 1, e.g. [0.7, 0.1, 0.2]"
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(_is_number(f) and math.isfinite(f) and f >= 0 for f in value)
            or not math.isclose(sum(value), 1.0, abs_tol=1e-6)):
        raise ConfigError(parameter, value, expected)
    return tuple(float(f) for f in value)


def folder_name(parameter: str, value: Any) -> str | None:
    """``None`` or one folder name that stays inside its parent: not absolute, no separator, not '.' or '..'."""
    if value is None:
        return None
    separators = {"/", os.sep, os.altsep} - {None}
    if (not isinstance(value, str) or value in ("", ".", "..") or os.path.isabs(value)
            or any(s in value for s in separators)):
        raise ConfigError(parameter, value, "a plain folder name (no '/', not absolute, not '.' or '..') or null")
    return value


def check_device(parameter: str, value: Any) -> str:
    """A torch device this machine has: 'auto', 'cpu', 'cuda' or 'cuda:N' (with a visible GPU N), 'mps'."""
    import torch

    if not isinstance(value, str) or not DEVICE_PATTERN.fullmatch(value):
        raise ConfigError(parameter, value, DEVICES)
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(parameter, value, "'auto' or 'cpu': no CUDA GPU is visible here")
        count = torch.cuda.device_count()
        if int(value.partition(":")[2] or 0) >= count:
            raise ConfigError(parameter, value, f"'cuda' or 'cuda:0' .. 'cuda:{count - 1}'")
    if value == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(parameter, value, "'auto' or 'cpu': no Apple MPS device is available here")
    return value
