"""Helpers used inside the notebooks, interactive (JupyterLab) or headless (papermill)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aelab.io import jsonable as _jsonable  # noqa: F401  (the names notebooks and older code import from here)
from aelab.io import write_json_atomic


def save_results(results: dict[str, Any], output_dir: str | Path = ".") -> Path:
    """Write a notebook's ``results.json`` into ``output_dir`` (next to the executed notebook) and return its path."""
    return write_json_atomic(results, Path(output_dir) / "results.json")


def output_folder(output_dir: str | Path) -> Path:
    """The folder a notebook writes its figures and results to, created if needed."""
    folder = Path(output_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None, digits: int = 3) -> str:
    """A Markdown table of ``rows`` (numbers rounded), for ``IPython.display.Markdown`` and reports. A pipe in a
    value or column name is escaped and a line break becomes a space, so each value stays in its own cell."""
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))

    def text(value: Any) -> str:
        return " ".join(str(value).splitlines()).replace("|", "\\|")

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "–" if not math.isfinite(value) else f"{value:.{digits}f}"
        return "–" if value is None else text(value)

    lines = ["| " + " | ".join(text(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


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
    ``css_class`` names the table for style sheets and browser tests."""
    columns = list(columns or dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    name = f" class='{html.escape(css_class)}'" if css_class else ""
    return f"<table{name}><tr>{head}</tr>{body}</table>"


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
