"""Paper numbers are looked up one way (aelab.reference.paper_numbers) by the sweep table, the run comparison, the
image–text variants and the auxiliary-head ablation."""

import pytest

from aelab.errors import UnknownNameError
from aelab.reference import PAPER_000_BALANCING, PAPER_002_AVA_M, PAPER_004_ABLATION, paper_numbers
from aelab.selection.ablation import paper_accuracy
from aelab.sweep.papers import paper_row
from aelab.train.compare import runs_against_paper
from aelab.train.image_text import variant_rows


class FinishedRun:
    def __init__(self, results):
        self.results = results


def test_a_row_is_found_by_name_tuple_list_or_text():
    assert paper_numbers("PAPER_000_BALANCING", "dwa") == PAPER_000_BALANCING["dwa"]
    assert paper_numbers(PAPER_000_BALANCING, "dwa") == PAPER_000_BALANCING["dwa"]
    for key in (("4a", "4b", "4d"), ["4a", "4b", "4d"], "4a,4b,4d"):
        assert paper_numbers("PAPER_004_ABLATION", key) == {"value": 88.1}
    assert paper_numbers(PAPER_004_ABLATION, ()) == paper_numbers(PAPER_004_ABLATION, "none") == {"value": 80.0}
    assert paper_numbers(PAPER_000_BALANCING, "adam") == {}
    with pytest.raises(UnknownNameError, match="PAPER_000_BALANCING"):
        paper_numbers("PAPER_NONE", "dwa")


def test_every_reader_of_paper_numbers_sees_the_same_row():
    sweep = paper_row({"table": "PAPER_004_ABLATION", "key": ["{aux_layers}"], "columns": {"accuracy": "value"}},
                      {"aux_layers": ["4a", "4d"]})
    assert sweep == {"accuracy": PAPER_004_ABLATION[("4a", "4d")]}
    assert paper_accuracy(["shared.4d", "shared.4a"]) == PAPER_004_ABLATION[("4a", "4d")]

    results = {"arch": "dwa", "test": {"metrics": {"aesthetic": {"accuracy": 0.5, "f1_macro": 0.25}}}}
    [row] = runs_against_paper([FinishedRun(results)], key="arch", reference=PAPER_000_BALANCING)
    assert row["aesthetic accuracy"] == 50.0 and row["aesthetic f1"] == 25.0
    assert row["paper aesthetic accuracy"] == PAPER_000_BALANCING["dwa"]["aesthetic_accuracy"]
    assert "paper aesthetic accuracy" not in runs_against_paper([FinishedRun(results)])[0]

    scores = {"test": {"metrics": {"aesthetic_score": {"accuracy": 0.8, "srcc": 0.5, "plcc": 0.6}}}, "arch": "mcn"}
    [variant] = variant_rows({"mcn_mtl": FinishedRun(scores)}, PAPER_002_AVA_M)
    assert (variant["paper ACC %"], variant["paper SRCC"]) == (85.63, 0.7835)
