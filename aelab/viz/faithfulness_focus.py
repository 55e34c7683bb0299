"""Paper 000's Fig. 5 (Shen et al. 2022) as a number: does the multi-task (AFI) model's Grad-CAM focus more than
the single-task baseline's, on the same images, at the last connector?

Per task, on each image, two measures of the map (:func:`aelab.viz.cam.grad_cam`, Selvaraju et al. 2017): its
*concentration* (share of the mass in its top 20 % of pixels; a uniform map gives 0.2) and, with SynthAE's subject
boxes, its share inside the box. :class:`PairedDifference` gives the per-image difference multi − single (mean ±
std), how many images go either way and a one-sided sign test. The paper says AFI focuses more: a task passes
when its concentration difference is positive on average and the sign test gives ``p < 0.05``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from aelab.errors import ConfigError
from aelab.task_kinds import kind_named
from aelab.viz.cam import TargetSpec, box_area, cam_mass_in_box, grad_cam
from aelab.viz.faithfulness_cam import check_boxes, check_count, check_images, focus_layer, held_out

TOP_SHARE = 0.2  # concentration: mass in the map's top 20 % of pixels
SIGN_TEST_LEVEL = 0.05


def concentration(cam: torch.Tensor | np.ndarray, top: float = TOP_SHARE) -> float:
    """Share of a non-negative map's mass in its ``top`` fraction of pixels (a uniform map gives ``top``);
    NaN for an all-zero map."""
    values = np.sort(np.asarray(cam.detach().cpu() if isinstance(cam, torch.Tensor) else cam, float).ravel())[::-1]
    total = float(values.sum())
    if total == 0:
        return float("nan")
    return float(values[:max(1, round(top * values.size))].sum() / total)


@dataclass(frozen=True)
class PairedDifference:
    """One measure of the same images under two models: the means, the per-image difference ``first − second``
    (mean ± std), how many images it is positive / negative for, and a one-sided sign test (first higher)."""

    first: float
    second: float
    mean: float
    std: float
    higher: int
    lower: int
    n: int
    p_value: float

    @classmethod
    def of(cls, first: Sequence[float], second: Sequence[float]) -> PairedDifference:
        """From per-image values; pairs with a NaN on either side are left out."""
        first, second = np.asarray(first, float), np.asarray(second, float)
        kept = ~(np.isnan(first) | np.isnan(second))
        first, second = first[kept], second[kept]
        if not first.size:
            nan = float("nan")
            return cls(nan, nan, nan, nan, 0, 0, 0, nan)
        diff = first - second
        higher, lower = int((diff > 0).sum()), int((diff < 0).sum())
        p_value = stats.binomtest(higher, higher + lower, 0.5, alternative="greater").pvalue if higher + lower \
            else 1.0
        return cls(float(first.mean()), float(second.mean()), float(diff.mean()), float(diff.std()), higher, lower,
                   int(first.size), float(p_value))

    def describe(self) -> str:
        return (f"{self.first:.2f} vs {self.second:.2f}, Δ {self.mean:+.2f} ± {self.std:.2f}, "
                f"higher in {self.higher}/{self.n} (p={self.p_value:.2g})")

    def as_dict(self) -> dict:
        """Every field (``first`` = multi-task mean, ``second`` = single-task mean, ``mean`` ± ``std`` = the paired
        difference) for a results file."""
        return asdict(self)


@dataclass(frozen=True)
class TaskFocus:
    """One task's comparison: ``concentration`` and ``in_box`` (None without subject boxes), multi-task first."""

    task: str
    multi_layer: str
    single_layer: str
    concentration: PairedDifference
    in_box: PairedDifference | None

    @property
    def passed(self) -> bool:
        c = self.concentration
        return bool(c.mean > 0 and c.p_value < SIGN_TEST_LEVEL)

    def as_dict(self) -> dict:
        return {"multi_layer": self.multi_layer, "single_layer": self.single_layer,
                "concentration": self.concentration.as_dict(),
                "in_box": None if self.in_box is None else self.in_box.as_dict(), "passed": self.passed}


@dataclass(frozen=True)
class FocusComparison:
    """Paper 000 Fig. 5 as numbers: per task, the multi-task model's maps against the single-task baseline's.
    ``value``: the smallest mean concentration difference over the tasks; ``chance``: a uniform map's
    concentration; ``area``: the boxes' mean area share (the in-box share of a map that ignores position)."""

    tasks: dict[str, TaskFocus]
    area: float | None
    chance: float = TOP_SHARE

    @property
    def value(self) -> float:
        return min(t.concentration.mean for t in self.tasks.values())

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tasks.values())

    def describe(self) -> str:
        parts = []
        for t in self.tasks.values():
            c = t.concentration
            box = f", in box Δ {t.in_box.mean:+.2f} ± {t.in_box.std:.2f}" if t.in_box is not None else ""
            parts.append(f"{t.task}: concentration Δ {c.mean:+.2f} ± {c.std:.2f} (higher in {c.higher}/{c.n}){box}")
        verdict = "pass" if self.passed else "fail"
        return (f"multi-task − single-task Grad-CAM (top-{TOP_SHARE:.0%} concentration, uniform {self.chance:.2f}): "
                f"{'; '.join(parts)} — {verdict}")

    def as_dict(self) -> dict:
        """The numbers for a results file: ``value`` (smallest mean concentration difference), ``chance``, the
        boxes' ``area``, per task the paired differences, the verdict and the line :meth:`describe` gives."""
        return {"value": self.value, "chance": self.chance, "area": self.area,
                "tasks": {name: task.as_dict() for name, task in self.tasks.items()}, "passed": self.passed,
                "description": self.describe()}


def focus_comparison(multi: nn.Module, single: nn.Module, images: torch.Tensor,
                     boxes: Sequence[Sequence[float]] | None = None, *, tasks: Sequence[str] | None = None,
                     targets: Mapping[str, TargetSpec] | None = None, single_images: torch.Tensor | None = None,
                     layers: Mapping[str, tuple[str, str]] | None = None, batch_size: int = 64) -> FocusComparison:
    """Grad-CAM of each task of both models on the same images (paper 000, Fig. 5), at :func:`focus_layer` of each
    (``layers[task] = (multi layer, single layer)`` to choose). ``tasks``: default those both models predict;
    ``targets[task]``: the class explained (default each model's predicted class); ``single_images``: the same
    pictures normalised for ``single`` when its input normalisation differs (default ``images``)."""
    images = check_images(images)
    single_images = images if single_images is None else check_images(single_images)
    if single_images.shape[0] != images.shape[0]:
        raise ConfigError("single_images", f"{single_images.shape[0]} images", f"the same {images.shape[0]} images")
    boxes = None if boxes is None else check_boxes(boxes, images.shape[0])
    shared = [t for t in getattr(multi, "task_names", []) if t in set(getattr(single, "task_names", []))]
    tasks = list(tasks) if tasks is not None else shared
    if not tasks or any(t not in shared for t in tasks):
        raise ConfigError("tasks", tasks, f"tasks both models predict: {shared}")
    results = {}
    for task in tasks:
        multi_layer, single_layer = (layers or {}).get(task) or (focus_layer(multi, task), focus_layer(single, task))
        target = (targets or {}).get(task)
        maps = [grad_cam(model, x, layer, task, target, batch_size=batch_size)
                for model, x, layer in ((multi, images, multi_layer), (single, single_images, single_layer))]
        measured = [[concentration(cam) for cam in cams] for cams in maps]
        in_box = None
        if boxes is not None:
            inside = [[cam_mass_in_box(cam, box) for cam, box in zip(cams, boxes)] for cams in maps]
            in_box = PairedDifference.of(*inside)
        results[task] = TaskFocus(task, multi_layer, single_layer, PairedDifference.of(*measured), in_box)
    area = float(np.mean([box_area(b) for b in boxes])) if boxes is not None else None
    return FocusComparison(results, area)


# ---- on trained runs ---------------------------------------------------------------------------------------


def focus_comparison_of_runs(multi_run: str | Path, single_run: str | Path, n: int = 200, *, seed: int = 0,
                             true_class: bool = True, **options) -> FocusComparison:
    """:func:`focus_comparison` of two trained runs on the same ``n`` held-out SynthAE images (each normalised as
    its run was trained); with ``true_class`` both explain each image's true class of every task with one class per image
    (binary, multiclass)."""
    from aelab.load import load_run

    multi, data = held_out(multi_run, n, seed)
    single = load_run(single_run)
    if single.config["image_size"] != multi.config["image_size"]:
        raise ConfigError(f"{single.folder / 'config.yaml'}: image_size", single.config["image_size"],
                          f"the multi-task run's image size {multi.config['image_size']}")
    if true_class and "targets" not in options:
        exclusive = [t.name for t in getattr(multi.model, "tasks", []) if kind_named(t.kind).exclusive]
        options["targets"] = {task: torch.as_tensor(data.labels[task]) for task in exclusive if task in data.labels}
    return focus_comparison(multi.model, single.model, data.images, data.boxes,
                            single_images=single.normalize(data.pixels), **options)


def train_focus_pair(output: str | Path, *, n_images: int, epochs: int, seed: int = 0,
                     **overrides) -> tuple[Path, Path]:
    """Train the pair Fig. 5 compares, with one recipe (the reference run's, :func:`aelab.reference_model.reference_recipe`, with
    ``n_images``, ``epochs``, ``seed`` and ``overrides``): the recipe's multi-task architecture and the
    single-task baseline (``arch="single"``: one backbone per task). Returns ``(multi run, single run)``
    folders under ``output``."""
    from aelab.reference_model import reference_recipe
    from aelab.train import fit

    settings = {"n_images": check_count("n_images", n_images, 10), "epochs": check_count("epochs", epochs),
                "seed": seed, "output": str(output), "progress": False, **overrides}
    recipe = reference_recipe(**settings)
    multi = fit(recipe).folder
    single = fit(recipe.replace(arch="single")).folder
    return multi, single
