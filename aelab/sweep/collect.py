"""Collecting a sweep: every point's parameters and flattened results in one table, mean ± std over seeds per row
of axis values, the paper's numbers beside them, failed or missing points listed with their error."""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aelab.paper_comparison import PaperComparison, data_set_of
from aelab.sweep.execute import RESULTS, read_status
from aelab.sweep.flatten import flatten, select_metrics
from aelab.sweep.grid import Grid, Point
from aelab.sweep.papers import paper_row
from aelab.sweep.runner import point_folder


@dataclass
class Row:
    """One row of the table: axis values, per metric the values over seeds, and the paper's numbers."""

    axes: dict[str, Any]
    values: dict[str, list[float]] = field(default_factory=dict)
    ok: int = 0
    failed: int = 0
    paper: dict[str, float] = field(default_factory=dict)

    def mean(self, metric: str) -> float | None:
        values = self.values.get(metric, [])
        return statistics.fmean(values) if values else None

    def std(self, metric: str) -> float | None:
        """Sample standard deviation over seeds (n − 1); None with fewer than two values."""
        values = self.values.get(metric, [])
        return statistics.stdev(values) if len(values) > 1 else None


@dataclass
class Collected:
    """A collected sweep: the rows, the metrics shown, every point's record and the failed or missing ones."""

    grid: Grid
    metrics: list[str]
    rows: list[Row]
    points: list[dict[str, Any]]
    failures: list[dict[str, Any]]


def _value_text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def point_record(grid: Grid, point: Point) -> dict[str, Any]:
    """One point: index, axis values, seed, status (ok / failed / running / not run), error and flat results."""
    folder = point_folder(grid, point)
    status = read_status(folder)
    record: dict[str, Any] = {"index": point.index, **{k: _value_text(v) for k, v in point.axes.items()},
                              "seed": point.seed, "status": status.status if status else "not run",
                              "error": status.error.describe() if status and status.error else "",
                              "folder": str(folder), "results": {}}
    if status and status.ok:
        path = folder / RESULTS
        if path.exists():
            record["results"] = flatten(json.loads(path.read_text()))
        else:
            record["status"], record["error"] = "failed", f"no {RESULTS} written (does the notebook save_results?)"
    return record


def collect(grid: Grid) -> Collected:
    """Read every point of ``grid`` from its output folder and aggregate over seeds."""
    points = grid.points()
    records = [point_record(grid, point) for point in points]
    available = [name for record in records for name in record["results"]]
    metrics = select_metrics(available, grid.metrics)
    rows: dict[str, Row] = {}
    for point, record in zip(points, records):
        key = json.dumps({k: _value_text(v) for k, v in point.axes.items()})
        row = rows.setdefault(key, Row(dict(point.axes)))
        if record["status"] != "ok":
            row.failed += 1
            continue
        row.ok += 1
        for metric in metrics:
            if metric in record["results"]:
                row.values.setdefault(metric, []).append(record["results"][metric] * grid.scale)
    if grid.reference:
        for row in rows.values():
            row.paper = paper_row(grid.reference, {**grid.fixed, **row.axes})
    failures = [r for r in records if r["status"] != "ok"]
    return Collected(grid, metrics, list(rows.values()), records, failures)


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def table_rows(collected: Collected) -> list[dict[str, Any]]:
    """The aggregated table as plain dicts (CSV columns): axes, ``seeds ok``, ``failed``, then per metric its mean,
    std and, when the grid names a reference, the paper's number."""
    out = []
    for row in collected.rows:
        line: dict[str, Any] = {k: _value_text(v) for k, v in row.axes.items()}
        line.update({"seeds ok": row.ok, "failed": row.failed})
        for metric in collected.metrics:
            line[f"{metric} mean"], line[f"{metric} std"] = row.mean(metric), row.std(metric)
            if collected.grid.reference:
                line[f"{metric} paper"] = row.paper.get(metric)
        out.append(line)
    return out


def mean_std_text(mean: float | None, std: float | None, digits: int = 3) -> str:
    """``43.8 ± 18.2``: the mean to ``digits`` significant digits, the std to the same decimals."""
    if mean is None:
        return "–"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(mean)))) if mean else digits - 1
    return f"{mean:.{decimals}f}" + ("" if std is None else f" ± {std:.{decimals}f}")


def display_rows(collected: Collected, digits: int = 3) -> list[dict[str, str]]:
    """The table for people: ``mean ± std`` per metric, the paper's number in the column after it."""
    out = []
    for row in collected.rows:
        line = {k: _value_text(v) for k, v in row.axes.items()}
        line["seeds"] = f"{row.ok}" + (f" ({row.failed} failed)" if row.failed else "")
        for metric in collected.metrics:
            line[metric] = mean_std_text(row.mean(metric), row.std(metric), digits)
            if collected.grid.reference:
                paper = row.paper.get(metric)
                line[f"paper {metric}"] = "–" if paper is None else f"{paper:g}"
        out.append(line)
    return out


def comparison_rows(collected: Collected, digits: int = 3) -> list[dict[str, str]]:
    """:func:`display_rows`, labelled as the sweep's numbers and the paper's real-data numbers when the grid names
    a reference (:class:`~aelab.paper_comparison.PaperComparison`)."""
    rows = display_rows(collected, digits)
    reference = collected.grid.reference
    if not reference:
        return rows
    return PaperComparison(rows, data_set_of(reference["table"]),
                           paper_columns=[f"paper {metric}" for metric in collected.metrics],
                           key_columns=[*collected.grid.axis_names, "seeds"],
                           data=collected.grid.fixed.get("data"))


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """Rows (dicts) as CSV with the union of their keys as header."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, columns)
        writer.writeheader()
        writer.writerows([{k: (_number(v, 8) if isinstance(v, float) else v) for k, v in r.items()} for r in rows])
    return path
