"""k-fold cross-validation of an auxiliary-classifier configuration (paper 004: stratified 5-fold; docs/science.md §1).

Each fold trains the same configuration from the same initialisation on the other folds and tests on its own
(:class:`~aelab.train.TrainConfig` ``folds`` / ``fold``); the task's test metrics (accuracy, precision, recall,
F1 for a binary task) are kept per fold and summarised as mean ± standard deviation over the folds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aelab.selection.choice import short_name
from aelab.train.config import TrainConfig

FoldCallback = Callable[[int, int, str], None]
"""``(fold index, number of folds, label of the configuration)``, called before each fold is trained."""


def layers_label(layers: Sequence[str]) -> str:
    """``"4a + 4b"`` for a set of layers, ``"none"`` for no auxiliary heads."""
    return " + ".join(short_name(layer) for layer in layers) or "none"


@dataclass
class FoldScores:
    """Per-fold test metrics of one configuration (``layers`` with auxiliary heads)."""

    layers: list[str]
    task: str
    folds: list[dict[str, float]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return layers_label(self.layers)

    def values(self, metric: str) -> list[float]:
        return [fold.get(metric, math.nan) for fold in self.folds]

    def mean(self, metric: str) -> float:
        values = [v for v in self.values(metric) if not math.isnan(v)]
        return statistics.fmean(values) if values else math.nan

    def std(self, metric: str) -> float:
        values = [v for v in self.values(metric) if not math.isnan(v)]
        return statistics.stdev(values) if len(values) > 1 else math.nan

    def summary(self, metrics: Sequence[str] = ("accuracy", "precision", "recall", "f1")) -> dict[str, float]:
        """``{metric: mean, metric_std: std}`` over the folds."""
        row: dict[str, float] = {}
        for metric in metrics:
            row[metric], row[f"{metric}_std"] = self.mean(metric), self.std(metric)
        return row

    def to_dict(self) -> dict:
        return {"layers": self.layers, "label": self.label, "task": self.task, "folds": self.folds,
                "runs": self.runs, "summary": self.summary()}


def fold_configs(config: TrainConfig, layers: Sequence[str], folds: int,
                 aux_weight: float | None = None) -> list[TrainConfig]:
    """One training config per fold: ``config`` (architecture ``aux``) with ``layers`` as its auxiliary layers."""
    if config.arch != "aux":
        raise ValueError(f"cross-validating auxiliary layers needs arch='aux', got {config.arch!r}")
    options = {**config.model_options, "aux_layers": list(layers)}
    if aux_weight is not None:
        options["aux_weight"] = aux_weight
    name = f"cv-{layers_label(layers).replace(' + ', '+')}"
    return [config.replace(folds=folds, fold=i, model_options=options, name=f"{name}-fold{i + 1}")
            for i in range(folds)]


def cross_validate(config: TrainConfig, layers: Sequence[str], *, folds: int = 5, aux_weight: float | None = None,
                   on_fold: FoldCallback | None = None) -> FoldScores:
    """Train and test ``config`` with auxiliary heads at ``layers`` on each of ``folds`` stratified folds."""
    from aelab.train import fit

    task = config.tasks[0]
    scores = FoldScores(list(layers), task)
    for index, fold_config in enumerate(fold_configs(config, layers, folds, aux_weight)):
        if on_fold is not None:
            on_fold(index, folds, scores.label)
        run = fit(fold_config)
        scores.folds.append(dict(run.results["test"]["metrics"][task]))
        scores.runs.append(str(run.folder))
    return scores


def paired_difference(better: FoldScores, baseline: FoldScores, metric: str = "accuracy") -> dict[str, float]:
    """Fold-by-fold difference ``better − baseline`` of ``metric`` (same folds, so the differences pair up):
    mean, standard deviation and how many folds improved / got worse."""
    if len(better.folds) != len(baseline.folds):
        raise ValueError(f"paired difference needs the same folds; got {len(better.folds)} and {len(baseline.folds)}")
    differences = [a - b for a, b in zip(better.values(metric), baseline.values(metric))]
    return {"mean": statistics.fmean(differences), "std": statistics.stdev(differences) if len(differences) > 1
            else math.nan, "wins": sum(d > 0 for d in differences), "losses": sum(d < 0 for d in differences),
            "folds": len(differences), "metric": metric}


def chosen_against_baseline(baseline: FoldScores, chosen: FoldScores,
                            metrics: Sequence[str] = ("accuracy", "precision", "recall", "f1")) -> list[dict]:
    """Two cross-validated settings side by side: rows for no auxiliary heads and for the chosen layers (mean ± std
    per metric over the folds), and a third with the fold-paired accuracy gain."""
    rows = []
    for name, scores in (("no auxiliary heads", baseline), (f"auxiliary heads at {chosen.label}", chosen)):
        summary = scores.summary(metrics)
        rows.append({"setting": name, **{m: f"{summary[m]:.3f} ± {summary[m + '_std']:.3f}" for m in metrics}})
    gain = paired_difference(chosen, baseline)
    rows.append({"setting": "gain (paired over folds)",
                 "accuracy": f"{gain['mean']:+.3f} ± {gain['std']:.3f} ({gain['wins']}/{gain['folds']} folds better)"})
    return rows
