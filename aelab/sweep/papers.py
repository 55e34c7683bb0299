"""The paper's number for a row of a sweep table, looked up in ``aelab/reference.py`` as the grid's ``reference``
block says: ``table`` (a name there), ``key`` (templates of the row's axis values, tried in order, e.g.
``["{arch}-{backbone}", "{arch}"]``) and ``columns`` (metric → the paper's column; a table whose entries are
plain numbers takes ``value`` as the column)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aelab.reference import key_text, paper_numbers


def paper_row(reference: Mapping[str, Any], axes: Mapping[str, Any]) -> dict[str, float]:
    """The paper's numbers for the row with axis values ``axes``, keyed by metric; {} when the paper has no row."""
    texts = {name: key_text(value) for name, value in axes.items()}
    for template in reference["key"]:
        try:
            key = template.format(**texts)
        except KeyError:
            continue
        entry = paper_numbers(reference["table"], key)
        if entry:
            return {metric: entry[column] for metric, column in reference["columns"].items() if column in entry}
    return {}
