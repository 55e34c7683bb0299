"""Every table that puts SynthAE numbers beside a paper's real-data numbers labels its columns as the run's and as
the paper's (with the data set) and carries the sentence saying they are not comparable, in Markdown and HTML; the
rows saved in results.json stay plain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aelab.io import jsonable
from aelab.notebook import html_table, markdown_table
from aelab.paper_comparison import NOT_COMPARABLE, SYNTHAE_RUN, PaperComparison
from aelab.reference import PAPER_000_ARCHITECTURES_RESNET50, PAPER_002_AVA_M
from aelab.report.demo import StepOutcome
from aelab.report.page import _table
from aelab.report.plan import DEMO_STEPS
from aelab.selection.ablation import AblationSetting, ablation_rows
from aelab.selection.crossval import FoldScores
from aelab.sweep.collect import Collected, Row, comparison_rows
from aelab.sweep.execute import Status
from aelab.sweep.grid import Grid
from aelab.sweep.report import html_page, markdown
from aelab.train.compare import runs_against_paper
from aelab.train.image_text import variant_rows


class FinishedRun:
    def __init__(self, results, data=None):
        self.results = results
        self.config = type("Config", (), {"data": data})() if data else None


def architectures(data=None):
    results = {"arch": "afi", "test": {"metrics": {"aesthetic": {"accuracy": 0.5, "f1_macro": 0.25}}}}
    return runs_against_paper([FinishedRun(results, data)], reference=PAPER_000_ARCHITECTURES_RESNET50)


def variants():
    scores = {"test": {"metrics": {"aesthetic_score": {"accuracy": 0.8, "srcc": 0.5, "plcc": 0.6}}}, "arch": "mcn"}
    return variant_rows({"mcn_mtl": FinishedRun(scores)}, PAPER_002_AVA_M) + [{"variant": "no text", "ACC %": 50.0}]


def ablation():
    scores = FoldScores(["shared.4a"], "sentiment", folds=[{"accuracy": 0.7, "f1": 0.6}, {"accuracy": 0.8, "f1": 0.7}])
    return ablation_rows([(AblationSetting("only 4a", "single", ("shared.4a",)), scores)])


def sweep_rows(tmp_path):
    grid = Grid(tmp_path / "g.yaml", tmp_path / "n.ipynb", tmp_path, product={"arch": ["afi"]},
                reference={"table": "PAPER_000_BALANCING", "key": ["{arch}"], "columns": {}})
    row = Row({"arch": "afi"}, {"accuracy": [0.5, 0.6]}, ok=2, paper={"accuracy": 80.5})
    return Collected(grid, ["accuracy"], [row], [], [])


TABLES = {
    "architectures (notebook 01)": (architectures, "paper, real data (UAE): aesthetic accuracy",
                                    f"{SYNTHAE_RUN}: aesthetic accuracy"),
    "image-text variants (notebook 06)": (variants, "paper, real data (AVA-m): ACC %", f"{SYNTHAE_RUN}: SRCC"),
    "auxiliary-head ablation (notebook 04)": (ablation, "paper, real data (Twitter five-agree): accuracy",
                                              f"{SYNTHAE_RUN}: accuracy"),
}


@pytest.mark.parametrize("name", TABLES)
def test_each_table_labels_its_columns_and_says_the_numbers_are_not_comparable(name):
    build, paper, ours = TABLES[name]
    rows = build()
    for text in (markdown_table(rows), html_table(rows)):
        assert paper in text.replace("&amp;", "&") and ours in text and NOT_COMPARABLE.replace("'", "&#x27;") in \
            text.replace("'", "&#x27;")
    saved = json.loads(json.dumps(jsonable({"table": rows})))["table"]
    assert saved == jsonable([dict(row) for row in rows]) and not any(k.startswith(SYNTHAE_RUN) for k in saved[0])


def test_row_naming_columns_keep_their_names():
    header = markdown_table(architectures()).splitlines()[0]
    assert header.startswith("| arch | ") and f"{SYNTHAE_RUN}: arch" not in header
    assert "| variant | arch |" in markdown_table(variants()).splitlines()[0]


def test_a_run_on_real_data_is_labelled_with_it_and_carries_no_caveat():
    text = markdown_table(architectures(data="uae"))
    assert "uae (this run): aesthetic accuracy" in text and SYNTHAE_RUN not in text and NOT_COMPARABLE not in text


def test_the_sweep_table_and_the_demo_table_are_labelled(tmp_path):
    collected = sweep_rows(tmp_path)
    assert isinstance(comparison_rows(collected), PaperComparison)
    for text in (markdown(collected), html_page(collected, [], tmp_path)):
        assert "paper, real data (UAE): accuracy" in text and f"{SYNTHAE_RUN}: accuracy" in text
        assert "not comparable" in text and "ordering of methods" in text
    step = DEMO_STEPS["01_train_multitask"]
    rows = [dict(row) for row in architectures()]
    front = _table(StepOutcome(step, Path(tmp_path), Status("ok", step.notebook), {"comparison": rows}))
    assert "paper, real data (UAE): aesthetic accuracy" in front and "not comparable" in front
