"""Side-by-side tables of finished runs, next to the numbers a paper reports for the same setting (labelled as a
run's and as the paper's real-data numbers: :mod:`aelab.paper_comparison`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aelab.paper_comparison import PaperComparison, data_set_of
from aelab.reference import paper_numbers


def run_results(run: Any) -> dict[str, Any]:
    """``results.json`` of a run (a :class:`~aelab.train.trainer.Run` or its folder)."""
    results = getattr(run, "results", None)
    if results:
        return results
    return json.loads((Path(getattr(run, "folder", run)) / "results.json").read_text())


def runs_against_paper(runs: Sequence[Any], key: str = "arch", split: str = "test",
                       reference: dict[str, dict[str, float]] | None = None,
                       metrics: Sequence[str] = ("accuracy", "f1")) -> PaperComparison:
    """One row per run: ``key`` (arch, balancing …), each task's metrics in % and, when ``reference`` (a table of
    :mod:`aelab.reference`) has a row for the same ``key`` value, the paper's numbers in ``paper …`` columns; the
    rows print with the run's and the paper's labels (:class:`~aelab.paper_comparison.PaperComparison`)."""
    rows = []
    for run in runs:
        results = run_results(run)
        row: dict[str, Any] = {key: results.get(key)}
        for task, values in results[split]["metrics"].items():
            for metric in metrics:
                name = "f1_macro" if metric == "f1" and "f1_macro" in values else metric
                if name in values:
                    row[f"{task} {metric}"] = 100 * values[name]
        for name, value in (paper_numbers(reference, row[key]) if reference else {}).items():
            row[f"paper {name.replace('_', ' ')}"] = value
        rows.append(row)
    return PaperComparison(rows, data_set_of(reference), key_columns=[key],
                           data=_data_of(runs[0]) if runs else None)


def train_architectures(run: Any, config: Any, others: Sequence[str], *, n_images: int | None = None,
                        epochs: int | None = None, fractions: Sequence[float] | None = None,
                        fit: Callable[[Any], Any] | None = None) -> list[Any]:
    """The runs of an architecture comparison: ``config.arch`` first, then each of ``others``, all trained with
    ``config`` but on at most ``n_images`` SynthAE images for at most ``epochs`` epochs (None: ``config``'s; a
    larger budget than ``config``'s is capped at it; a real data set keeps all its images) split by ``fractions``
    (train / validation / test; None: ``config``'s — a small comparison may want larger validation and test
    shares than a large run). ``run`` (trained with ``config``) stands for ``config.arch`` when the comparison's
    settings are ``config``'s own, else that architecture is trained again with them, so that every row of the
    table had the same. No ``others``: ``[run]``."""
    if fit is None:
        from aelab.train.trainer import fit
    others = [arch for arch in others if arch != config.arch]
    if not others:
        return [run]
    images = min(n_images or config.n_images, config.n_images) if config.data == "synthae" else config.n_images
    budget = config.replace(n_images=images, epochs=min(epochs or config.epochs, config.epochs),
                            fractions=tuple(fractions) if fractions is not None else config.fractions)
    first = run if budget == config else fit(budget)
    return [first, *(fit(budget.replace(arch=arch)) for arch in others)]


def _data_of(run: Any) -> str | None:
    """The data set a run trained on (``config.data``), None when unknown."""
    config = getattr(run, "config", None)
    return getattr(config, "data", None) if config is not None else None
