"""aelab demo: the notebooks run in a chain (02, 03, 05 inspect the shipped reference run), one HTML report whose
links resolve, a failing notebook stops the demo with its cell and error, and the plan is checked before anything
runs."""

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from figure_content import assert_drawn, assert_same_drawing
from notebook_fixtures import write_notebook

import aelab
from aelab import cli
from aelab.report import DEMO_STEPS, DemoFailed, DemoOptions, DemoStep, run_demo
from aelab.report.demo import step_parameters
from aelab.sweep.parameters import ParameterError, notebook_parameters
from aelab.viz.training import learning_curves

VISUALISATION = ("02_activation_maximisation", "03_spatial_and_neuron_groups", "05_grad_cam")


class Links(HTMLParser):
    """Every href and src of a page."""

    def __init__(self):
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.targets += [value for name, value in attrs if name in ("href", "src") and value]


def relative_targets(page: Path) -> list[str]:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return [t for t in parser.targets if not urlparse(t).scheme and not t.startswith(("#", "//"))]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["demo", "--runs", str(runs), "--n", "160", "--quick"])
    folders = list((runs / "demo").iterdir())
    return code, printed.getvalue(), folders


def test_demo_runs_every_notebook_in_a_chain(demo):
    code, printed, folders = demo
    assert code == 0 and len(folders) == 1
    folder = folders[0]
    for number, step in enumerate(DEMO_STEPS.values(), 1):
        assert f"[demo {number}/{len(DEMO_STEPS)}] {step.notebook} done" in printed
        assert json.loads((folder / step.stem / "status.json").read_text())["status"] == "ok"
        results = json.loads((folder / step.stem / "results.json").read_text())
        assert results["figures"]
        for figure in results["figures"]:  # something drawn on each: several colours, not one flat canvas
            assert_drawn(folder / step.stem / figure)
    tour = json.loads((folder / "00_synthae_tour" / "results.json").read_text())
    assert tour["summary"]["n"] == 160 and sum(tour["summary"]["emotion_counts"].values()) == 160
    training = json.loads((folder / "01_train_multitask" / "results.json").read_text())
    assert {row["arch"] for row in training["comparison"]} == {"afi", "share_split"}
    assert (Path(training["run"]) / "checkpoints" / "best.pt").exists()
    # 01's learning curves are those its run logged, as the test draws them again from the run folder
    assert_same_drawing(folder / "01_train_multitask" / "learning_curves.png",
                        learning_curves(training["run"], training["config"]["tasks"]), dpi=90)
    for stem in VISUALISATION:  # each visualisation notebook inspected the shipped reference run, not one of its own
        assert json.loads((folder / stem / "results.json").read_text())["run"] == str(aelab.reference_run())
        assert not list((folder / stem).glob("*/*/config.yaml"))


def test_report_links_figures_and_results_table_resolve(demo):
    code, printed, folders = demo
    report = folders[0] / "report.html"
    assert f"report: {report.resolve()}" in printed
    targets = relative_targets(report)
    for step in DEMO_STEPS.values():
        assert f"{step.stem}/{step.stem}.html" in targets
    images = [t for t in targets if t.endswith(".png")]
    assert len(images) >= len(DEMO_STEPS) and "01_train_multitask/learning_curves.png" in images
    pages = [report] + [report.parent / unquote(t) for t in targets if t.endswith(".html")]
    for page in pages:
        for target in relative_targets(page):
            assert (page.parent / unquote(urlparse(target).path)).exists(), (page, target)
    front = report.read_text()
    assert "paper, real data (UAE): aesthetic accuracy" in front and "share_split" in front
    converted = (folders[0] / "01_train_multitask" / "01_train_multitask.html").read_text()
    assert "data:image/png;base64" in converted


def test_key_figure_panel_is_written_from_the_demo_folder(demo, tmp_path):
    from aelab.report.panel import key_figure_panel

    panel = key_figure_panel(demo[2][0], tmp_path / "panel.png")
    assert_drawn(panel, min_colours=200, min_size=300)  # the notebooks' key figures, pasted side by side


def failing_notebook(path: Path) -> Path:
    return write_notebook(
        path, 'value = 1\noutput_dir = "."\ninteractive = True',
        'import json, pathlib\npathlib.Path(output_dir, "results.json").write_text(json.dumps({"run": "r"}))\n'
        'if value == 2:\n    raise RuntimeError("the planted error")')


def test_a_failing_notebook_stops_the_demo_naming_notebook_cell_and_error(tmp_path):
    failing_notebook(tmp_path / "good.ipynb")
    failing_notebook(tmp_path / "bad.ipynb")
    failing_notebook(tmp_path / "never.ipynb")
    steps = {"good": DemoStep("good.ipynb", "good"), "bad": DemoStep("bad.ipynb", "bad", parameters={"value": 2}),
             "never": DemoStep("never.ipynb", "never")}
    lines = []
    with pytest.raises(DemoFailed) as error:
        run_demo(tmp_path / "out", tmp_path, DemoOptions(), steps=steps, say=lines.append)
    message = str(error.value)
    assert "bad.ipynb" in message and "In [3]" in message and "RuntimeError: the planted error" in message
    assert [o.step.stem for o in error.value.outcomes] == ["good", "bad"]
    assert not (tmp_path / "out" / "never").exists() and "[demo 3/3]" not in "".join(lines)


def test_the_plan_is_checked_before_anything_runs(tmp_path):
    failing_notebook(tmp_path / "good.ipynb")
    missing = {"good": DemoStep("good.ipynb", "good"), "gone": DemoStep("gone.ipynb", "gone")}
    with pytest.raises(ParameterError, match="gone.ipynb not found"):
        run_demo(tmp_path / "out", tmp_path, DemoOptions(), steps=missing)
    unknown = {"good": DemoStep("good.ipynb", "good", parameters={"valeu": 3})}
    with pytest.raises(ParameterError, match="'valeu' is not a parameter of good.ipynb"):
        run_demo(tmp_path / "out", tmp_path, DemoOptions(), steps=unknown)
    orphan = {"good": DemoStep("good.ipynb", "good", inputs={"value": ("later", "run")})}
    with pytest.raises(ParameterError, match="not an earlier demo step"):
        run_demo(tmp_path / "out", tmp_path, DemoOptions(), steps=orphan)
    assert not (tmp_path / "out").exists()


def test_data_backbone_and_weights_reach_only_the_notebooks_that_take_them():
    options = DemoOptions(passthrough={"data": "uae", "root": "/data/UAE", "backbone": "resnet50",
                                       "weights": "imagenet", "seed": 3}, overrides={"05_grad_cam": {"shown": 2}})
    for stem, step in DEMO_STEPS.items():
        known = notebook_parameters(cli.NOTEBOOKS / step.notebook)
        parameters = step_parameters(step, options, known)
        assert parameters["interactive"] is step.widgets and set(parameters) <= set(known)
        for name in ("data", "root", "backbone", "weights", "seed"):
            assert (parameters.get(name) == options.passthrough[name]) == (name in known), (stem, name)
    assert step_parameters(DEMO_STEPS["05_grad_cam"], options, {"shown": 12})["shown"] == 2
    assert {"data", "root", "backbone", "weights"} <= set(notebook_parameters(cli.NOTEBOOKS /
                                                                             "01_train_multitask.ipynb"))


def test_widget_state_of_the_explorer_is_kept_in_the_notebook_and_its_page(demo):
    """03 runs with its widgets on: the executed notebook keeps the explorer's last state, and the report's page of
    that notebook embeds it (nbconvert draws the widgets from it)."""
    code, printed, folders = demo
    widget_steps = [step for step in DEMO_STEPS.values() if step.widgets]
    assert [step.stem for step in widget_steps] == ["03_spatial_and_neuron_groups"]
    executed = next((folders[0] / widget_steps[0].stem).glob("*.ipynb"))
    state = nbformat.read(executed, as_version=4).metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
    descriptions = {model["state"].get("description") for model in state["state"].values()}
    assert {"layer", "channel", "groups", "task", "class"} <= descriptions
    pages = [p for p in folders[0].rglob("*.html") if widget_steps[0].stem in p.name]
    assert pages and "application/vnd.jupyter.widget-state+json" in pages[0].read_text(encoding="utf-8")
