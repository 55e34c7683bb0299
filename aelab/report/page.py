"""The demo's HTML report: each executed notebook converted with nbconvert, and a front page (``report.html``)
linking them, with each notebook's key figures and results tables (page frame: :mod:`aelab.pages`)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from aelab.notebook import html_table
from aelab.pages import html_document
from aelab.report.demo import StepOutcome
from aelab.sweep.flatten import flatten, select_metrics

def notebook_to_html(executed: Path) -> Path:
    """Convert an executed notebook to a standalone HTML file beside it (figures embedded) and return its path."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def key_figures(outcome: StepOutcome) -> list[str]:
    """The figures of a step shown on the front page: its ``key_figures`` that it wrote, else its first two."""
    made = [name for name in outcome.results.get("figures", []) if (outcome.folder / name).exists()]
    chosen = [name for name in outcome.step.key_figures if name in made]
    return chosen or made[:2]


def _section(outcome: StepOutcome, folder: Path) -> str:
    step, here = outcome.step, outcome.folder.relative_to(folder).as_posix()
    parts = [f'<section id="{html.escape(step.stem)}"><h2>{html.escape(step.title)}</h2>']
    files = ((f"{step.stem}.html", "executed notebook (HTML)"), (step.notebook, ".ipynb"),
             ("results.json", "results.json"), ("status.json", "status.json"))
    links = [f'<a href="{here}/{html.escape(name)}">{label}</a>' for name, label in files
             if (outcome.folder / name).exists()]
    parts.append(f'<p class="meta">{html.escape(step.notebook)} · {outcome.status.seconds:.0f} s · '
                 + " · ".join(links) + "</p>")
    if not outcome.status.ok:
        parts.append(f'<pre class="failed">failed at {html.escape(outcome.status.error.describe())}</pre>')
    figures = key_figures(outcome)
    if figures:
        parts.append('<div class="figures">' + "".join(
            f'<a href="{here}/{html.escape(n)}"><img src="{here}/{html.escape(n)}" alt="{html.escape(n)}"></a>'
            for n in figures) + "</div>")
    rows = outcome.results.get(step.table) if step.table else None
    if rows:
        names = list(dict.fromkeys(key for row in rows for key in row))
        parts.append(html_table(rows, sorted(names, key=lambda c: isinstance(rows[0].get(c), (int, float)))))
    scalars = flatten(outcome.results)
    chosen = select_metrics(scalars, step.summary)[:12]
    if chosen and not rows:
        parts.append(html_table([{"result": name, "value": scalars[name]} for name in chosen]))
    return "\n".join(parts) + "</section>"


def write_report(folder: Path, outcomes: Sequence[StepOutcome], title: str = "aelab demo",
                 failure: str | None = None) -> Path:
    """Convert every executed notebook to HTML and write the front page ``folder/report.html``."""
    for outcome in outcomes:
        executed = outcome.folder / outcome.step.notebook
        if executed.exists():
            notebook_to_html(executed)
    total = sum(o.status.seconds for o in outcomes)
    contents = "".join(f'<li><a href="#{html.escape(o.step.stem)}">{html.escape(o.step.notebook)}</a> — '
                       f"{html.escape(o.step.title)}</li>" for o in outcomes)
    banner = f'<pre class="failed">{html.escape(failure)}</pre>' if failure else ""
    page = html_document(title, f'<p class="meta">{len(outcomes)} notebooks run headless with papermill in '
                                f"{total:.0f} s; each links to its executed copy.</p>{banner}<ol>{contents}</ol>"
                                + "\n".join(_section(o, folder) for o in outcomes))
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
