"""Helpers used inside the notebooks, interactive (JupyterLab) or headless (papermill)."""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from aelab.errors import ConfigError
from aelab.io import jsonable as _jsonable  # noqa: F401  (the names notebooks and older code import from here)
from aelab.io import write_json_atomic

COLLECTIONS: dict[str, tuple[tuple[type, ...], str]] = {
    "list": ((list, tuple), "[a, b]"),
    "mapping": ((dict,), "{key: value}"),
}
"""What a list or a mapping parameter may hold, and the YAML example its error message shows."""


def save_results(results: dict[str, Any], output_dir: str | Path = ".") -> Path:
    """Write a notebook's ``results.json`` into ``output_dir`` (next to the executed notebook) and return its path."""
    return write_json_atomic(results, Path(output_dir) / "results.json")


def require_collections(lists: Mapping[str, Any] | None = None, mappings: Mapping[str, Any] | None = None,
                        words: Collection[str] = (), optional: Collection[str] = ()) -> None:
    """Check, in a notebook's first code cell and so before anything is trained, that each parameter of ``lists``
    holds a list and each of ``mappings`` a mapping (``words``: strings some of them also take, e.g. ``"auto"``;
    ``optional``: names that may also be None). Run headless, ``papermill -p compare "[a, b]"`` passes the text
    ``"[a, b]"``; lists and mappings go through papermill's YAML option, ``-y "compare: [a, b]"``. Raises
    :class:`~aelab.errors.ConfigError` naming the parameter and saying so."""
    for kind, values in (("list", lists or {}), ("mapping", mappings or {})):
        types, example = COLLECTIONS[kind]
        for name, value in values.items():
            if isinstance(value, types) or (isinstance(value, str) and value in words) or \
                    (value is None and name in optional):
                continue
            also = f" or one of {', '.join(map(repr, words))}" if words else ""
            raise ConfigError(name, value, f"a {kind}{also}; headless, pass it with papermill's -y option "
                                           f"(YAML), e.g. -y \"{name}: {example}\" (-p passes text)")


def output_folder(output_dir: str | Path) -> Path:
    """The folder a notebook writes its figures and results to, created if needed."""
    folder = Path(output_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None, digits: int = 3) -> str:
    """A Markdown table of ``rows`` (numbers rounded), for ``IPython.display.Markdown`` and reports. A pipe in a
    value or column name is escaped and a line break becomes a space, so each value stays in its own cell. Rows
    that carry ``headers`` (printed column names) and a ``note`` (a sentence printed under the table), as
    :class:`aelab.paper_comparison.PaperComparison` does, are printed with them."""
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    headers, note = getattr(rows, "headers", {}), getattr(rows, "note", "")

    def text(value: Any) -> str:
        return " ".join(str(value).splitlines()).replace("|", "\\|")

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "–" if not math.isfinite(value) else f"{value:.{digits}f}"
        return "–" if value is None else text(value)

    lines = ["| " + " | ".join(text(headers.get(c, c)) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + (f"\n\n{note}" if note else "")


def _html_cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.0f}" if value.is_integer() else f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if value is None:
        return "–"
    return html.escape(str(value))


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, css_class: str = "") -> str:
    """An HTML table of ``rows`` (dicts, values escaped, numbers rounded), columns in first-seen order unless given;
    ``css_class`` names the table for style sheets and browser tests; ``headers`` and ``note`` carried by the rows
    are printed as in :func:`markdown_table` (the note as the table's caption)."""
    columns = list(columns or dict.fromkeys(key for row in rows for key in row))
    headers, note = getattr(rows, "headers", {}), getattr(rows, "note", "")
    head = "".join(f"<th>{html.escape(str(headers.get(c, c)))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    name = f" class='{html.escape(css_class)}'" if css_class else ""
    caption = f"<caption>{html.escape(note)}</caption>" if note else ""
    return f"<table{name}>{caption}<tr>{head}</tr>{body}</table>"


def trained_run(run: str | Path | None, output_dir: str | Path = "runs", **train_options: Any) -> Path:
    """The run folder to inspect: ``run`` when given, else a small SynthAE model trained now (the visualisation
    notebooks' default when no run from the training notebook is passed)."""
    if run:
        folder = Path(run)
        if not (folder / "config.yaml").exists():
            raise FileNotFoundError(f"run={str(run)!r} is not a run folder (no config.yaml); leave it empty to train one")
        return folder
    from aelab.train import TrainConfig, fit

    defaults = {"arch": "afi", "n_images": 1600, "image_size": 64, "epochs": 4, "progress": False,
                "grad_ratio_every": 0}
    return fit(TrainConfig(output=str(output_dir), **{**defaults, **train_options})).folder
