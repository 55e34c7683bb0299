"""The demo's HTML report: each executed notebook converted with nbconvert into a page that works offline
(:mod:`aelab.report.offline`), and a front page (``report.html``) that leads with the figures whose faithfulness
check passed (then those that failed, with their number, then the unchecked: :mod:`aelab.report.checks`) and links
each notebook with its results table (page frame: :mod:`aelab.pages`)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from aelab.notebook import html_table
from aelab.pages import html_document
from aelab.paper_comparison import PaperComparison, data_set_of
from aelab.report.checks import FigureCheck, checked_first, figure_check
from aelab.report.demo import StepOutcome
from aelab.report.offline import notebook_to_html
from aelab.sweep.flatten import flatten, select_metrics

__all__ = ["checked_figures", "key_figures", "notebook_to_html", "write_report"]

STYLE = """
figure.check { margin: 0; max-width: 520px; } figure.check img { max-width: 520px; max-height: 360px; }
figure.check figcaption { font-size: 0.85em; } .pass { color: #060; } .fail { color: #a00; } .unchecked { color: #666; }
"""


def key_figures(outcome: StepOutcome) -> list[str]:
    """The figures of a step shown on the front page: its ``key_figures`` that it wrote, else its first two."""
    made = [name for name in outcome.results.get("figures", []) if (outcome.folder / name).exists()]
    chosen = [name for name in outcome.step.key_figures if name in made]
    return chosen or made[:2]


def _made(outcome: StepOutcome) -> list[str]:
    return [name for name in outcome.results.get("figures", []) if (outcome.folder / name).exists()]


def checked_figures(outcomes: Sequence[StepOutcome]) -> list[tuple[tuple[StepOutcome, str], FigureCheck]]:
    """Every step's key figures and every figure with a check, each with its check, in report order: passing,
    failing, a number without a verdict, not checked (notebook order within each)."""
    entries = []
    for outcome in outcomes:
        shown = key_figures(outcome)
        for name in _made(outcome):
            check = figure_check(outcome.results, name, outcome.step.figure_checks)
            if name in shown or check.checked:
                entries.append(((outcome, name), check))
    return checked_first(entries)


def _css(check: FigureCheck) -> str:
    return ("pass", "fail", "unchecked", "unchecked")[check.rank]


def _figure(outcome: StepOutcome, name: str, check: FigureCheck, folder: Path) -> str:
    here = outcome.folder.relative_to(folder).as_posix()
    source = f"{here}/{html.escape(name)}"
    return (f'<figure class="check {_css(check)}"><a href="{source}"><img src="{source}" alt="{html.escape(name)}">'
            f"</a><figcaption><b>{html.escape(outcome.step.notebook)}</b> · {html.escape(name)}<br>"
            f'<span class="{_css(check)}">{html.escape(check.caption())}</span></figcaption></figure>')


def _table(outcome: StepOutcome) -> str:
    """The step's results table; one with the paper's numbers is labelled as such (:mod:`aelab.paper_comparison`)."""
    step = outcome.step
    rows = outcome.results.get(step.table) if step.table else None
    if not rows:
        return ""
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = sorted(names, key=lambda c: isinstance(rows[0].get(c), (int, float)))
    if step.paper:
        config = outcome.results.get("config")
        data = outcome.results.get("data") or (config.get("data") if isinstance(config, dict) else None)
        rows = PaperComparison(rows, data_set_of(step.paper), data=data)
    return html_table(rows, columns)


def _section(outcome: StepOutcome, folder: Path, checks: dict[str, FigureCheck]) -> str:
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
    if checks:
        parts.append('<p class="meta">figures (shown above): ' + " · ".join(
            f'<a href="{here}/{html.escape(name)}">{html.escape(name)}</a> '
            f'<span class="{_css(check)}">({html.escape(check.verdict)})</span>' for name, check in checks.items())
            + "</p>")
    table = _table(outcome)
    parts.append(table)
    scalars = flatten(outcome.results)
    chosen = select_metrics(scalars, step.summary)[:12]
    if chosen and not table:
        parts.append(html_table([{"result": name, "value": scalars[name]} for name in chosen]))
    return "\n".join(parts) + "</section>"


def write_report(folder: Path, outcomes: Sequence[StepOutcome], title: str = "aelab demo",
                 failure: str | None = None) -> Path:
    """Convert every executed notebook to an offline HTML page and write the front page ``folder/report.html``:
    the figures, checked ones first, then a section per notebook."""
    for outcome in outcomes:
        executed = outcome.folder / outcome.step.notebook
        if executed.exists():
            notebook_to_html(executed)
    total = sum(o.status.seconds for o in outcomes)
    contents = "".join(f'<li><a href="#{html.escape(o.step.stem)}">{html.escape(o.step.notebook)}</a> — '
                       f"{html.escape(o.step.title)}</li>" for o in outcomes)
    banner = f'<pre class="failed">{html.escape(failure)}</pre>' if failure else ""
    figures = checked_figures(outcomes)
    passed = sum(check.rank == 0 for _, check in figures)
    gallery = (f'<section id="figures"><h2>Figures, those that pass their faithfulness check first</h2>'
               f'<p class="meta">{passed} of {len(figures)} figures pass the check that says whether they show what '
               "SynthAE planted; then the figures that fail it (with the number), then those not checked.</p>"
               '<div class="figures">' + "".join(_figure(o, name, check, folder) for (o, name), check in figures)
               + "</div></section>") if figures else ""
    by_step: dict[str, dict[str, FigureCheck]] = {}
    for (outcome, name), check in figures:
        by_step.setdefault(outcome.step.stem, {})[name] = check
    page = html_document(title, f"<style>{STYLE}</style>"
                         f'<p class="meta">{len(outcomes)} notebooks run headless with papermill in '
                         f"{total:.0f} s; each links to its executed copy.</p>{banner}<ol>{contents}</ol>{gallery}"
                         + "\n".join(_section(o, folder, by_step.get(o.step.stem, {})) for o in outcomes))
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
