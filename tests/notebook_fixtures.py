"""Small notebooks the tests write: a cell tagged ``parameters`` and code cells, with a Python 3 kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: Path, parameters: str, *code: str, title: str | None = None) -> Path:
    """Write a notebook whose ``parameters`` cell holds ``parameters``, followed by one code cell per ``code``."""
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    cells = ([nbformat.v4.new_markdown_cell(f"# {title}")] if title else []) + [cell]
    notebook = nbformat.v4.new_notebook(cells=cells + [nbformat.v4.new_code_cell(source) for source in code])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path
