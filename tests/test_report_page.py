"""The demo report's front page leads with the figures whose faithfulness check passed (then failed, with the
number, then unchecked), built from constructed results (no notebook runs); a converted notebook page fetches no
script from the network and draws every widget from its saved state."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import nbformat
import pytest

from aelab.report.checks import check_of, figure_check
from aelab.report.demo import StepOutcome
from aelab.report.offline import STATIC_CLASS, WIDGET_STATE, WIDGET_VIEW, notebook_to_html
from aelab.report.page import write_report
from aelab.report.plan import DemoStep
from aelab.sweep.execute import Status

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def outcome(folder, stem, figures, results, figure_checks=None, key_figures=()):
    step = DemoStep(f"{stem}.ipynb", f"notebook {stem}", key_figures=tuple(key_figures),
                    figure_checks=figure_checks or {})
    (folder / stem).mkdir()
    for name in figures:
        (folder / stem / name).write_bytes(PNG)
    return StepOutcome(step, folder / stem, Status("ok", step.notebook, 1.0), {**results, "figures": figures})


@pytest.fixture
def report(tmp_path):
    first = outcome(tmp_path, "a", ["a_fail.png", "a_plain.png", "a_pass.png"],
                    {"checks": {"atlas_diversity": {"value": 0.21, "chance": 0.5, "passed": False,
                                                    "description": "diversity: 0.21 (chance 0.5) — FAIL"}},
                     "smoothness": {"positive": {"value": 0.9, "passed": True},
                                    "negative": {"value": 0.8, "verdict": "pass"}}},
                    {"a_fail*": ("atlas_diversity",), "a_pass*": ("smoothness",)}, key_figures=["a_plain.png"])
    second = outcome(tmp_path, "b", ["b_number.png", "b_written.png", "b_skipped.png"],
                     {"share": 0.37, "figure_checks": {"b_written.png": {"value": 0.7, "verdict": "PASS"}}},
                     {"b_number*": ("share",)})
    return write_report(tmp_path, [first, second]).read_text(encoding="utf-8")


def shown(page: str) -> list[str]:
    gallery = page[page.index('id="figures"'):page.index("</section>")]
    return re.findall(r'<img src="[ab]/([^"]+)"', gallery)


def test_the_report_leads_with_passing_figures_then_failing_then_unchecked(report):
    # b_skipped.png is neither a key figure nor checked; a_plain.png is a key figure without a check
    assert shown(report) == ["a_pass.png", "b_written.png", "a_fail.png", "b_number.png", "a_plain.png"]
    assert report.index('id="figures"') < report.index('<section id="a"')


def test_each_figure_shows_its_number_and_verdict(report):
    captions = dict(re.findall(r'alt="([^"]+)"></a><figcaption>.*?<span class="[a-z]+">(.*?)</span>', report))
    assert captions["a_fail.png"].startswith("FAIL") and "0.21" in captions["a_fail.png"]
    assert captions["a_pass.png"].startswith("pass") and "0.9" in captions["a_pass.png"]
    assert captions["b_written.png"].startswith("pass") and "0.7" in captions["b_written.png"]
    assert captions["b_number.png"] == "no verdict — share: 0.37"
    assert captions["a_plain.png"] == "not checked"
    assert "2 of 5 figures pass" in report


def test_checks_are_read_defensively():
    assert not figure_check({}, "x.png", {"x*": ("missing",)}).checked
    assert not figure_check({"figure_checks": "not a mapping", "k": "text"}, "x.png", {"x*": ("k",)}).checked
    assert check_of({"value": float("nan")}) is None and check_of(True) is None
    mixed = check_of({"one": {"value": 1.0, "passed": True}, "two": {"value": 0.1, "passed": False}})
    assert mixed.passed is False and mixed.rank == 1
    assert figure_check({"a": {"b": {"value": 2, "verdict": "fail"}}}, "x.png", {"x*": ("a.b",)}).passed is False


class Scripts(HTMLParser):
    """Every script's attributes and text."""

    def __init__(self):
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
            self._inside = True

    def handle_endtag(self, tag):
        self._inside = False if tag == "script" else self._inside

    def handle_data(self, data):
        if self._inside:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def widget_notebook(path):
    """A notebook with one widget view (a box holding a slider, a dropdown, a picture and an output area) and the
    widget state papermill saves."""
    ipywidgets = pytest.importorskip("ipywidgets")
    from ipywidgets.embed import embed_data

    output = ipywidgets.Output()
    output.outputs = ({"output_type": "display_data", "data": {"image/png": base64.b64encode(PNG).decode()},
                       "metadata": {}},)
    box = ipywidgets.VBox([ipywidgets.HBox([ipywidgets.IntSlider(7, 0, 9, description="channel"),
                                            ipywidgets.Dropdown(options=["aesthetic", "emotion"], value="emotion",
                                                                description="task")]),
                           ipywidgets.Image(value=PNG, format="png"), output])
    data = embed_data(views=[box])
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {WIDGET_STATE: data["manager_state"]}
    cell = nbformat.v4.new_code_cell("explorer")
    cell.outputs = [nbformat.v4.new_output("display_data", {WIDGET_VIEW: data["view_specs"][0],
                                                            "text/plain": "VBox(...)"})]
    notebook.cells = [nbformat.v4.new_markdown_cell("Some $x^2$ maths."), cell]
    nbformat.write(notebook, path)
    for widget in (box, output):
        widget.close()
    return path


def test_a_notebook_page_loads_no_script_from_the_network_and_draws_widgets_statically(tmp_path):
    page = notebook_to_html(widget_notebook(tmp_path / "w.ipynb")).read_text(encoding="utf-8")
    parser = Scripts()
    parser.feed(page)
    for attrs, text in parser.scripts:
        assert not re.match(r"(https?:)?//", attrs.get("src", "")), attrs
        if attrs.get("type", "text/javascript") in ("text/javascript", "module", "application/javascript"):
            assert not re.search(r"https?://", text), text[:200]
    assert WIDGET_VIEW not in page  # no widget area left for a manager that cannot load
    assert page.count(f'class="{STATIC_CLASS}"') == 1
    static = page[page.index(f'class="{STATIC_CLASS}"'):]
    assert "channel: 7" in static and "task: emotion" in static
    assert static.count(f"data:image/png;base64,{base64.b64encode(PNG).decode()}") == 2  # the picture and output
    assert WIDGET_STATE in page  # the saved state stays, as data


def test_the_files_the_report_links_are_world_readable(tmp_path):
    import os
    import stat

    from aelab.io import write_json_atomic
    from aelab.notebook import save_results
    from aelab.sweep.execute import STATUS

    previous = os.umask(0o022)
    try:
        results = save_results({"figures": []}, tmp_path / "a")
        status = write_json_atomic(Status("ok", "a.ipynb", 1.0).to_dict(), tmp_path / "a" / STATUS)  # as execute does
        first = outcome(tmp_path, "b", ["b.png"], {}, key_figures=["b.png"])
        report = write_report(tmp_path, [first])
        page = notebook_to_html(widget_notebook(tmp_path / "w.ipynb"))
    finally:
        os.umask(previous)
    for path in (results, status, report, page):
        assert stat.S_IMODE(path.stat().st_mode) & 0o444 == 0o444, path
