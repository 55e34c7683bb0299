"""Paper 004's ablation table, generated: which auxiliary heads carry the gain (docs/science.md §3, paper 004 Table 5).

Settings: no auxiliary heads; each single candidate layer outside the chosen set (the paper's 3a, 3b, 4c, 4e);
the chosen set; the chosen set minus each layer; minus each pair. Every setting is cross-validated on the same
folds (:mod:`aelab.selection.crossval`); a setting that repeats another's layer set is listed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from aelab.paper_comparison import PaperComparison, data_set_of
from aelab.reference import PAPER_004_ABLATION, paper_numbers
from aelab.selection.choice import short_name
from aelab.selection.crossval import FoldCallback, FoldScores, cross_validate, layers_label
from aelab.train.config import TrainConfig


@dataclass(frozen=True)
class AblationSetting:
    """One row of the ablation: its name, kind and the layers that keep a head."""

    name: str
    kind: str  # "none", "single", "chosen", "minus one", "minus two"
    layers: tuple[str, ...]


def ablation_settings(chosen: Sequence[str], singles: Sequence[str] = ()) -> list[AblationSetting]:
    """The settings in table order (module docstring); ``singles``: layers tried alone (those in ``chosen`` are
    covered by the minus-pair rows and skipped)."""
    chosen = tuple(chosen)
    rows = [AblationSetting("no auxiliary heads", "none", ())]
    rows += [AblationSetting(f"only {short_name(layer)}", "single", (layer,)) for layer in singles
             if layer not in chosen]
    if chosen:
        rows.append(AblationSetting(f"chosen: {layers_label(chosen)}", "chosen", chosen))
    for dropped in combinations(chosen, 1) if len(chosen) > 1 else ():
        rows.append(AblationSetting(f"without {short_name(dropped[0])}", "minus one",
                                    tuple(layer for layer in chosen if layer not in dropped)))
    for dropped in combinations(chosen, 2) if len(chosen) > 2 else ():
        rows.append(AblationSetting(f"without {layers_label(dropped).replace(' + ', ' and ')}", "minus two",
                                    tuple(layer for layer in chosen if layer not in dropped)))
    unique, seen = [], set()
    for row in rows:
        if frozenset(row.layers) not in seen:
            seen.add(frozenset(row.layers))
            unique.append(row)
    return unique


def paper_accuracy(layers: Sequence[str]) -> float | None:
    """Paper 004's accuracy (%) for the same set of GoogLeNet blocks (its Table 5), when the paper has that row
    (the table's keys are sorted block names)."""
    return paper_numbers(PAPER_004_ABLATION, sorted(short_name(layer) for layer in layers)).get("value")


def run_ablation(config: TrainConfig, chosen: Sequence[str], singles: Sequence[str] = (), *, folds: int = 5,
                 aux_weight: float | None = None, on_fold: FoldCallback | None = None,
                 known: dict[frozenset, FoldScores] | None = None) -> list[tuple[AblationSetting, FoldScores]]:
    """Cross-validate every ablation setting. ``known``: results already computed (by layer set), reused."""
    known = dict(known or {})
    results = []
    for setting in ablation_settings(chosen, singles):
        key = frozenset(setting.layers)
        if key not in known:
            known[key] = cross_validate(config, setting.layers, folds=folds, aux_weight=aux_weight, on_fold=on_fold)
        results.append((setting, known[key]))
    return results


def ablation_rows(results: Sequence[tuple[AblationSetting, FoldScores]], data: str | None = None) -> PaperComparison:
    """Table rows: setting, layers, mean ± std of each metric over the folds, and the paper's accuracy (%); they
    print with the run's (on ``data``, SynthAE by default) and the paper's labels
    (:class:`~aelab.paper_comparison.PaperComparison`)."""
    rows = []
    for setting, scores in results:
        summary = scores.summary()
        rows.append({"setting": setting.name, "kind": setting.kind, "layers": scores.label,
                     **{k: v for k, v in summary.items()}, "paper_accuracy": paper_accuracy(setting.layers)})
    return PaperComparison(rows, data_set_of(PAPER_004_ABLATION), key_columns=["setting", "kind", "layers"], data=data)
