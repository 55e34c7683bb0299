"""Atomic writes, JSON-safe values and the CSV log of aelab.io."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from aelab.errors import AelabError
from aelab.io import (CsvLog, jsonable, torch_save_atomic, write_atomic, write_json_atomic, write_text_atomic,
                      write_yaml_atomic)


def test_nan_and_infinity_become_null_and_numpy_values_plain():
    data = {"a": math.nan, "b": [1.5, -math.inf], "c": np.float32(2.5), "d": np.arange(3), 4: Path("x/y"),
            "e": (1, 2), "f": torch.tensor([0.5, math.nan])}
    assert jsonable(data) == {"a": None, "b": [1.5, None], "c": 2.5, "d": [0, 1, 2], "4": "x/y", "e": [1, 2],
                              "f": [0.5, None]}


def test_json_file_holds_null_for_nan(tmp_path):
    path = write_json_atomic({"loss": math.nan, "score": np.float64(0.25)}, tmp_path / "sub" / "r.json")
    text = path.read_text()
    assert "NaN" not in text and json.loads(text) == {"loss": None, "score": 0.25}


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_unserialisable_value_leaves_the_old_file_intact(tmp_path):
    path = write_json_atomic({"kept": 1}, tmp_path / "results.json")
    with pytest.raises(AelabError, match=r"results\.json: cannot write the value as JSON.*not changed"):
        write_json_atomic({"kept": 2, "bad": object()}, path)
    assert json.loads(path.read_text()) == {"kept": 1}
    assert _only(tmp_path) == ["results.json"]  # no temporary file left behind


def test_write_failing_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic("old\n", tmp_path / "log.txt")

    def half_then_fail(stream):
        stream.write("half a fi")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert _only(tmp_path) == ["log.txt"]

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot pickle this")

    torch_save_atomic({"w": torch.ones(2)}, tmp_path / "last.pt")
    with pytest.raises(TypeError, match="cannot pickle"):
        torch_save_atomic({"w": torch.zeros(2), "x": Unpicklable()}, tmp_path / "last.pt")
    assert torch.equal(torch.load(tmp_path / "last.pt")["w"], torch.ones(2))
    assert _only(tmp_path) == ["last.pt", "log.txt"]


def test_yaml_value_it_cannot_hold_is_refused_before_writing(tmp_path):
    path = write_yaml_atomic({"a": 1}, tmp_path / "grid.yaml")
    with pytest.raises(AelabError, match="grid.yaml: cannot write the value as YAML"):
        write_yaml_atomic({"a": object()}, path)
    assert path.read_text() == "a: 1\n"


def test_writers_refuse_a_symbolic_link(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    for name, write in [("a.json", lambda p: write_json_atomic({}, p)), ("b.pt", lambda p: torch_save_atomic({}, p)),
                        ("c.csv", lambda p: CsvLog(p).append({"epoch": 0}))]:
        link = tmp_path / name
        link.symlink_to(target)
        with pytest.raises(AelabError, match=f"{name} is a symbolic link"):
            write(link)
        assert link.is_symlink() and target.read_text() == "precious"


def test_csv_log_appends_under_one_header_and_truncates(tmp_path):
    log = CsvLog(tmp_path / "metrics.csv")
    log.append({"epoch": 0, "loss": 1.0}, {"epoch": 0, "score": 0.5})
    log.append({"epoch": 1, "loss": 0.5, "ignored": 1})
    again = CsvLog(tmp_path / "metrics.csv")
    assert again.fields == ["epoch", "loss", "score"]
    again.truncate_after(0)
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["epoch,loss,score", "0,1.0,", "0,,0.5"]


def test_atomic_writes_are_as_readable_as_ordinary_files(tmp_path):
    import os
    import stat

    from aelab.io import write_json_atomic

    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x")
    written = write_json_atomic({"a": 1}, tmp_path / "results.json")
    assert stat.S_IMODE(os.stat(written).st_mode) == stat.S_IMODE(os.stat(ordinary).st_mode)
