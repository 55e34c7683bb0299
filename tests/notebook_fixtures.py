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


def files_under(folder: Path) -> set[Path]:
    """Every file below ``folder`` (links not followed), relative to it."""
    return {path.relative_to(folder) for path in folder.rglob("*") if path.is_file() or path.is_symlink()}


def assert_written_only_to_output(cwd: Path, stem: str, before: set[Path] = frozenset(),
                                  also: tuple[str, ...] = ()) -> Path:
    """A notebook run headless from ``cwd`` without ``output_dir`` wrote only under ``cwd/runs/notebooks/<stem>/``
    (besides the files ``before`` it started and the relative paths ``also``, e.g. the executed copy), and its
    output folder holds ``results.json``; return that folder."""
    output = Path("runs", "notebooks", stem)
    written = files_under(cwd) - set(before) - {Path(p) for p in also}
    stray = sorted(str(p) for p in written if output not in p.parents)
    assert not stray, f"{stem} wrote outside {output}/: {', '.join(stray[:10])}"
    assert (cwd / output / "results.json").is_file(), f"{stem}: no results.json in {output}/"
    return cwd / output


def run_from_fresh_folder(notebook: Path, folder: Path, parameters: dict) -> Path:
    """Execute ``notebook`` headless (papermill) with ``parameters`` but no ``output_dir``, working directory the
    new empty folder ``folder / "cwd"``, its executed copy written to ``folder / "executed"``; check with
    :func:`assert_written_only_to_output` that it wrote only into its default output folder, and return that
    folder (figures and results.json)."""
    import papermill

    assert "output_dir" not in parameters, "the point is the default output_dir"
    cwd, executed = folder / "cwd", folder / "executed"
    cwd.mkdir(parents=True)
    executed.mkdir(parents=True)
    papermill.execute_notebook(str(notebook), str(executed / notebook.name), parameters=parameters,
                               cwd=str(cwd), progress_bar=False, kernel_name="python3")
    return assert_written_only_to_output(cwd, notebook.stem)
