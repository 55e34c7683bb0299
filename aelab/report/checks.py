"""Each report figure with the faithfulness check that says whether it shows what SynthAE planted, so that the
report can lead with the figures that pass (then those that fail, with their number, then the unchecked).

A notebook's ``results.json`` is read defensively: a check is found under the result keys the demo plan names for
the figure (:attr:`aelab.report.plan.DemoStep.figure_checks`; a key matches a dotted path or any nested key of that
name) or under ``results["figure_checks"][<figure file>]`` (a check, or the dotted key of one). A check is what
:meth:`aelab.viz.faithfulness.CheckResult.as_dict` writes (``value``, ``chance``, ``passed``, ``description``), a
``verdict`` word, a bare number (shown, without a verdict), or a dict or list of these (all must pass).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

VERDICT_WORDS = {"pass": True, "passed": True, "ok": True, "yes": True, "true": True,
                 "fail": False, "failed": False, "no": False, "false": False}
"""How a written ``verdict`` reads (lower case)."""


@dataclass(frozen=True)
class FigureCheck:
    """What a figure's check found: a line for its caption, the verdict (None: none given) and the number."""

    text: str = ""
    passed: bool | None = None
    value: float | None = None

    @property
    def checked(self) -> bool:
        return self.passed is not None or self.value is not None

    @property
    def rank(self) -> int:
        """Report order: 0 passed, 1 failed, 2 a number without a verdict, 3 not checked."""
        if self.passed is not None:
            return 0 if self.passed else 1
        return 2 if self.value is not None else 3

    @property
    def verdict(self) -> str:
        return ("pass", "FAIL", "no verdict", "not checked")[self.rank]

    def caption(self) -> str:
        """``pass — <the check's line>``, ``FAIL — <line>`` or ``not checked``."""
        return self.verdict if not self.checked else f"{self.verdict} — {self.text}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _verdict(values: Mapping[str, Any]) -> bool | None:
    if isinstance(values.get("passed"), bool):
        return values["passed"]
    word = values.get("verdict")
    return VERDICT_WORDS.get(word.strip().lower()) if isinstance(word, str) else None


def _single(values: Mapping[str, Any], name: str) -> FigureCheck | None:
    """One check written as a dict (``value``/``passed``/``verdict``/``description``); None when it is not one."""
    passed, number = _verdict(values), _number(values.get("value"))
    if passed is None and number is None:
        return None
    text = values.get("description")
    if not isinstance(text, str) or not text:
        chance = _number(values.get("chance"))
        label = values.get("name") if isinstance(values.get("name"), str) else name
        text = f"{label}: {number:.3g}" if number is not None else str(label)
        text += f" (chance {chance:.3g})" if chance is not None else ""
    return FigureCheck(text, passed, number)


def combine(checks: Iterable[FigureCheck | None]) -> FigureCheck | None:
    """Several checks of one figure as one: failed when any failed, passed when every verdict given passed."""
    found = [c for c in checks if c is not None]
    if len(found) <= 1:
        return found[0] if found else None
    verdicts = [c.passed for c in found if c.passed is not None]
    passed = None if not verdicts else all(verdicts)
    value = next((c.value for c in found if c.value is not None), None)
    return FigureCheck("; ".join(c.text for c in found), passed, value)


def check_of(value: Any, name: str = "check") -> FigureCheck | None:
    """The check written as ``value`` (see the module), or None when it holds none."""
    number = _number(value)
    if number is not None:
        return FigureCheck(f"{name}: {number:.3g}", None, number)
    if isinstance(value, Mapping):
        single = _single(value, name)
        if single is not None:
            return single
        return combine(check_of(item, f"{name} {key}") for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return combine(check_of(item, name) for item in value)
    return None


def find_key(results: Any, key: str) -> Any:
    """``results[a][b]`` for the dotted ``key`` ``"a.b"``, else the first value anywhere under a key named ``key``
    (depth first); None when there is none."""
    node = results
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            break
        node = node[part]
    else:
        return node
    if isinstance(results, Mapping):
        for name, item in results.items():
            found = item if name == key else find_key(item, key)
            if found is not None:
                return found
    elif isinstance(results, (list, tuple)):
        for item in results:
            found = find_key(item, key)
            if found is not None:
                return found
    return None


def figure_check(results: Mapping[str, Any], figure: str,
                 patterns: Mapping[str, Sequence[str]] | None = None) -> FigureCheck:
    """The check of ``figure`` (a file name in ``results["figures"]``): from ``results["figure_checks"]``, else
    from the keys ``patterns`` names for the first glob matching the figure; an unchecked :class:`FigureCheck`
    when neither holds one."""
    written = results.get("figure_checks")
    if isinstance(written, Mapping) and figure in written:
        entry = written[figure]
        found = check_of(find_key(results, entry) if isinstance(entry, str) else entry, figure)
        if found is not None:
            return found
    for pattern, keys in (patterns or {}).items():
        if fnmatch(figure, pattern):
            found = combine(check_of(find_key(results, key), key) for key in keys)
            if found is not None:
                return found
    return FigureCheck()


def checked_first(entries: Iterable[tuple[Any, FigureCheck]]) -> list[tuple[Any, FigureCheck]]:
    """``(figure, check)`` pairs in report order: passing, failing, a number without a verdict, not checked
    (the order within each group kept)."""
    return sorted(entries, key=lambda entry: entry[1].rank)
