"""Paper 002's comparison on one data set: MCN-MTL, its ablations and an image-only baseline, trained with the
same settings, in one table next to the paper's Table 2 (docs/science.md §5).

=============  =============  ==========================================================================
variant        architecture   what changes
=============  =============  ==========================================================================
mcn_mtl        mcn            the full model: image + comments, score and style tasks (DWA weighting)
mcn            mcn            without the style task (the paper's single-task "MCN")
mcn_no_ctrm    mcn_no_ctrm    without co-attention: the modalities meet only when pooled and concatenated
image_only     mcn_image      no comments: the same backbone, image self-attention layers and heads
=============  =============  ==========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from aelab.errors import UnknownNameError
from aelab.paper_comparison import PaperComparison, data_set_of
from aelab.reference import paper_numbers
from aelab.train.compare import run_results
from aelab.train.config import TrainConfig

STYLE_TASK = "style"
SCORE_TASKS = ("aesthetic_score", "aesthetic")

VARIANTS: dict[str, tuple[str, bool]] = {
    "mcn_mtl": ("mcn", True),
    "mcn": ("mcn", False),
    "mcn_no_ctrm": ("mcn_no_ctrm", True),
    "image_only": ("mcn_image", True),
}
"""Variant name → (architecture, keeps the style task)."""


def variant_config(config: TrainConfig, variant: str) -> TrainConfig | None:
    """``config`` for one variant (run name = the variant); None when dropping the style task leaves no task."""
    if variant not in VARIANTS:
        raise UnknownNameError("image-text variant", variant, list(VARIANTS))
    arch, with_style = VARIANTS[variant]
    tasks = list(config.tasks) if with_style else [t for t in config.tasks if t != STYLE_TASK]
    if not tasks or (not with_style and STYLE_TASK not in config.tasks):
        return None  # nothing left, or no style task to drop (the variant would repeat mcn_mtl)
    return config.replace(arch=arch, tasks=tasks, name=variant)


def train_variants(config: TrainConfig, variants: Sequence[str] = tuple(VARIANTS)) -> dict[str, Any]:
    """Train every variant of ``variants`` with ``config``'s settings; returns ``{variant: Run}``."""
    from aelab.train.trainer import fit

    runs = {}
    for variant in variants:
        variant_settings = variant_config(config, variant)
        if variant_settings is not None:
            runs[variant] = fit(variant_settings)
    return runs


def _score_metrics(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float | None]:
    for task in SCORE_TASKS:
        if task in metrics:
            values = metrics[task]
            return {"ACC %": 100 * values["accuracy"], "SRCC": values.get("srcc"), "PLCC": values.get("plcc")}
    return {"ACC %": None, "SRCC": None, "PLCC": None}


def _style_map(metrics: Mapping[str, Mapping[str, float]]) -> float | None:
    style_map = metrics.get(STYLE_TASK, {}).get("map")
    return None if style_map is None or math.isnan(style_map) else style_map


def variant_rows(runs: Mapping[str, Any], reference: Mapping[str, Mapping[str, float | None]] | None = None,
                 split: str = "test") -> PaperComparison:
    """One row per variant: ACC (score > 5, %), SRCC, PLCC, style mAP and, where the paper reports the same
    variant, its ACC and SRCC (``paper …`` columns); the rows print with the run's and the paper's labels
    (:class:`~aelab.paper_comparison.PaperComparison`; adding plain rows keeps them)."""
    rows = []
    for variant, run in runs.items():
        results = run_results(run)
        metrics = results[split]["metrics"]
        row: dict[str, Any] = {"variant": variant, "arch": results.get("arch"), **_score_metrics(metrics)}
        row["style mAP"] = _style_map(metrics)
        paper = paper_numbers(reference, variant) if reference else {}
        row["paper ACC %"], row["paper SRCC"] = paper.get("accuracy"), paper.get("srcc")
        rows.append(row)
    first = next(iter(runs.values()), None)
    return PaperComparison(rows, data_set_of(reference if reference is not None else "PAPER_002_AVA_M"),
                           key_columns=["variant", "arch"], data=getattr(getattr(first, "config", None), "data", None))


def evaluate_without_comments(run: Any, split: str = "test") -> dict[str, dict[str, float]]:
    """Metrics of a trained image–text run on ``split`` when every image's comments are removed (each image
    then reads as the ``<empty>`` token): how much the predictions owe to the text."""
    from torch.utils.data import DataLoader, default_collate

    from aelab.tasks import get_task
    from aelab.train.data import build_datasets
    from aelab.train.evaluation import evaluate

    config = run.config
    model = run.model
    device = next(model.parameters()).device

    def blank(items):
        batch = default_collate(items)
        batch["comments"] = [""] * len(items)
        return batch

    loader = DataLoader(build_datasets(config)[split], batch_size=config.batch_size, collate_fn=blank)
    return evaluate(model, loader, [get_task(t) for t in config.tasks], device).metrics


COMMENTS_REMOVED = "comments removed"
"""Suffix of the variant name in the row of a model evaluated without its comments."""


def without_comments(run: Any, split: str = "test") -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """How much paper 002's full co-attention model (MCN, ``arch="mcn"``) owes to the comments: ``(metrics, rows)``
    where ``metrics`` come from :func:`evaluate_without_comments` on ``split`` and ``rows``
    holds one :func:`variant_rows`-shaped row, ``"<variant>, comments removed"`` (no paper columns: the paper
    reports no such setting). For a run of another architecture (no co-attention, image only) both are empty."""
    if run.config.arch != VARIANTS["mcn_mtl"][0]:
        return {}, []
    metrics = evaluate_without_comments(run, split)
    row = {"variant": f"{run.config.name or 'mcn_mtl'}, {COMMENTS_REMOVED}", "arch": run.config.arch,
           **_score_metrics(metrics), "style mAP": _style_map(metrics)}
    return metrics, [row]
