"""Writing a collected sweep: ``table.csv`` (numbers), ``points.csv`` (every point, failed ones with their error),
``table.md`` and ``table.html`` (mean ± std, the paper's numbers beside them, the failures listed) and ``plots/``."""

from __future__ import annotations

import html
from pathlib import Path

from aelab.notebook import html_table, markdown_table
from aelab.pages import html_document
from aelab.sweep.collect import Collected, comparison_rows, table_rows, write_csv
from aelab.sweep.plots import metric_plots


def failure_lines(collected: Collected) -> list[str]:
    """``point 0003-arch=afi-seed=1: failed — cell 7 (In [4]): ValueError: …`` for each point that is not ok."""
    return [f"point {r['index']} ({Path(r['folder']).name}): {r['status']}"
            + (f" — {r['error']}" if r["error"] else "") for r in collected.failures]


def markdown(collected: Collected) -> str:
    """The table as Markdown, with a heading, the paper it is compared with and the failures."""
    grid = collected.grid
    parts = [f"# {grid.description or grid.source.stem}", "",
             f"Notebook `{grid.notebook.name}`, {len(collected.points)} points; mean ± std over seeds"
             + (f", values ×{grid.scale:g}" if grid.scale != 1 else "")
             + (f"; paper columns from `aelab.reference.{grid.reference['table']}`" if grid.reference else "") + ".",
             "", markdown_table(comparison_rows(collected))]
    if collected.failures:
        parts += ["", f"## Points not ok ({len(collected.failures)})", ""]
        parts += [f"- {line}" for line in failure_lines(collected)]
    return "\n".join(parts) + "\n"


def html_page(collected: Collected, plots: list[Path], folder: Path) -> str:
    """The table, the failures and the plots as one HTML page."""
    grid = collected.grid
    failures = "".join(f"<li>{html.escape(line)}</li>" for line in failure_lines(collected))
    images = "".join(f'<img src="{p.relative_to(folder).as_posix()}" alt="{html.escape(p.stem)}">' for p in plots)
    return html_document(grid.description or grid.source.stem,
                         f"<p class='meta'>notebook {html.escape(grid.notebook.name)}, {len(collected.points)} "
                         f"points, mean ± std over seeds</p>{html_table(comparison_rows(collected))}"
                         + (f"<h2 class='failed'>Points not ok</h2><ul class='failed'>{failures}</ul>"
                            if failures else "")
                         + f"<div class='figures'>{images}</div>")


def write_outputs(collected: Collected, folder: Path | None = None) -> dict[str, Path]:
    """Write every rendering into ``folder`` (default: the sweep's output folder) and return their paths."""
    folder = Path(folder or collected.grid.output)
    folder.mkdir(parents=True, exist_ok=True)
    points = [{k: v for k, v in r.items() if k != "results"}
              | {m: r["results"].get(m) for m in collected.metrics} for r in collected.points]
    plots = metric_plots(collected, folder / "plots")
    written = {"table.csv": write_csv(table_rows(collected), folder / "table.csv"),
               "points.csv": write_csv(points, folder / "points.csv")}
    written["table.md"] = folder / "table.md"
    written["table.md"].write_text(markdown(collected), encoding="utf-8")
    written["table.html"] = folder / "table.html"
    written["table.html"].write_text(html_page(collected, plots, folder), encoding="utf-8")
    return written
