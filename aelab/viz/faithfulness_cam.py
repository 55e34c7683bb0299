"""Does a Grad-CAM map show what SynthAE planted? Two numbers, each beside its chance level.

- :func:`subject_focus`: the share of the (positive) Grad-CAM map inside the subject box against the box's share
  of the frame, which is what a map that ignores position puts there. SynthAE plants composition on the subject,
  so the aesthetic head should look at it: criterion ``share ≥ 2 × area``.
- :func:`spliced_check`: paper 004's spliced images (Fig. 6), counted. Each splice joins an image of one class and
  one of the other; the map of each class should put most of its mass on the half that shows that class. The two
  classes take turns on the left, so a map fixed on one side is right in half of the splices. Criterion ``≥ 0.9``.
  For a head of many classes (emotion, paper 004's affect task) each splice joins two images of different classes
  and each map explains its own image's class.

Paper 000's Fig. 5 (multi-task against single-task maps) is :mod:`aelab.viz.faithfulness_focus`. Each check returns
a small frozen dataclass with ``value``, ``chance``, ``passed``, a one-line ``describe()`` for a figure title and
``as_dict()`` for a results file; :func:`subject_focus_of_maps` measures maps already computed; the ``*_of_run`` variants read a trained run (:func:`aelab.load_run`) and its held-out SynthAE images
(:meth:`aelab.load.LoadedRun.examples`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aelab.errors import AelabError, ConfigError
from aelab.viz.cam import (TargetSpec, box_area, cam_mass_in_box, grad_cam, half_box, spliced_image, target_names,
                           task_classes)
from aelab.viz.probe import probe_layers

SUBJECT_FOCUS_CRITERION = 2.0  # share inside the subject box ≥ 2 × the box's area share
SPLICED_CRITERION = 0.9  # share of the maps that pick the half showing their class
SPLICED_CHANCE = 0.5


# ---- helpers ------------------------------------------------------------------------------------------------


def check_count(parameter: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int; ConfigError naming ``parameter`` unless it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(parameter, value, f"an integer >= {minimum}")
    return int(value)


def check_images(images: torch.Tensor) -> torch.Tensor:
    """A ``(B, 3, H, W)`` batch (one ``(3, H, W)`` image gains the batch axis); ConfigError otherwise."""
    images = images[None] if isinstance(images, torch.Tensor) and images.dim() == 3 else images
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ConfigError("images", getattr(images, "shape", type(images).__name__), "a (B, 3, H, W) tensor")
    return images


def check_boxes(boxes: Sequence[Sequence[float]] | None, count: int) -> list[list[float]]:
    """One subject box per image, as lists; ConfigError naming the counts otherwise."""
    if boxes is None or len(boxes) != count:
        given = "no boxes" if boxes is None else f"{len(boxes)} boxes"
        raise ConfigError("boxes", given, f"one subject box (x0, y0, x1, y1) per image ({count})")
    return [list(b) for b in boxes]


def focus_layer(model: nn.Module, task: str) -> str:
    """The probe layer where paper 000 reads its maps: the last connector of ``task``'s branch
    (``"<task>.connector<k>"``); without connectors the last probe layer of that branch (a single-task baseline's
    last stage, the same place in the network), else the model's last probe layer (a shared trunk)."""
    names = probe_layers(model)
    if not names:
        raise ConfigError("model", type(model).__name__, "a model with probe layers")
    connectors = [n for n in names if n.startswith(f"{task}.connector")]
    own = [n for n in names if n.startswith(f"{task}.")]
    return (connectors or own or names)[-1]


def _target_label(model: nn.Module, task: str, target: TargetSpec) -> str:
    if target is None:
        return "predicted class"
    flat = torch.as_tensor(target).reshape(-1)
    return f"class {target_names(model, task, flat[:1])[0]}" if flat.numel() == 1 else "given classes"


# ---- subject box ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectFocus:
    """Grad-CAM of ``task`` (``target``) at ``layer``: ``value`` = mean share of the map's mass inside the subject
    box, ``chance`` = mean share of the frame the boxes cover (a map that ignores position), over ``n`` images
    with a map (``empty`` all-zero maps left out); ``shares``: each image's share (NaN for an empty map).
    ``judged``: whether the criterion applies (SynthAE plants composition on the subject for the aesthetic head;
    for another head, or one class's map, the share is a measurement without a verdict)."""

    task: str
    layer: str
    target: str
    value: float
    chance: float
    n: int
    empty: int
    shares: tuple[float, ...] = field(default=(), repr=False)
    criterion: float = SUBJECT_FOCUS_CRITERION
    judged: bool = True

    @property
    def ratio(self) -> float:
        return self.value / self.chance if self.n and self.chance > 0 else float("nan")

    @property
    def passed(self) -> bool | None:
        """``ratio ≥ criterion`` when judged, else None (no verdict)."""
        return bool(self.ratio >= self.criterion) if self.judged else None

    def describe(self) -> str:
        name = f"Grad-CAM {self.task} ({self.target}) at {self.layer}"
        if not self.n:
            return f"{name}: all {self.empty} maps are empty (the head's output does not depend on this layer)"
        empty = f", {self.empty} empty maps left out" if self.empty else ""
        need = f"need ≥ {self.criterion:g}×, " if self.judged else ""
        verdict = f" — {'pass' if self.passed else 'fail'}" if self.judged else ""
        return (f"{name}: {self.value:.0%} of the map in the subject box vs {self.chance:.0%} of the frame = "
                f"{self.ratio:.1f}× ({need}n={self.n}{empty}){verdict}")

    def as_dict(self) -> dict:
        """The numbers for a results file: value, chance, ratio, n, the verdict (None: not judged) and the line
        :meth:`describe` gives."""
        return {"task": self.task, "layer": self.layer, "target": self.target, "value": self.value,
                "chance": self.chance, "ratio": self.ratio, "n": self.n, "empty": self.empty,
                "criterion": self.criterion, "passed": self.passed, "description": self.describe()}


def subject_focus_of_maps(cams: torch.Tensor | Sequence[np.ndarray], boxes: Sequence[Sequence[float]], *,
                          task: str, layer: str, target: str = "predicted class",
                          judged: bool = True) -> SubjectFocus:
    """:class:`SubjectFocus` of Grad-CAM maps already computed (one ``(H, W)`` map and one normalised subject box
    per image): the mean share inside the box (:func:`aelab.viz.cam.cam_mass_in_box`) against the mean box area
    over the images whose map is not all zero."""
    boxes = check_boxes(boxes, len(cams))
    shares = np.array([cam_mass_in_box(cam, box) for cam, box in zip(cams, boxes)], dtype=float)
    kept = ~np.isnan(shares)
    areas = np.array([box_area(box) for box in boxes], dtype=float)
    value = float(shares[kept].mean()) if kept.any() else float("nan")
    chance = float(areas[kept].mean()) if kept.any() else float("nan")
    return SubjectFocus(task, layer, target, value, chance, int(kept.sum()), int((~kept).sum()),
                        tuple(float(s) for s in shares), judged=judged)


def subject_focus(model: nn.Module, images: torch.Tensor, boxes: Sequence[Sequence[float]], *,
                  task: str = "aesthetic", layer: str | None = None, target: TargetSpec = None,
                  batch_size: int = 64) -> SubjectFocus:
    """How much of ``task``'s Grad-CAM map (:func:`aelab.viz.cam.grad_cam`, Selvaraju et al. 2017, eqs. 1–2)
    lies inside each image's subject box, against the box's area share. ``images``: model inputs ``(B, 3, H, W)``;
    ``boxes``: one normalised ``(x0, y0, x1, y1)`` per image; ``layer`` defaults to :func:`focus_layer`;
    ``target`` as in ``grad_cam`` (None: each image's predicted class)."""
    images = check_images(images)
    boxes = check_boxes(boxes, images.shape[0])
    layer = layer or focus_layer(model, task)
    cams = grad_cam(model, images, layer, task, target, batch_size=batch_size)
    return subject_focus_of_maps(cams, boxes, task=task, layer=layer, target=_target_label(model, task, target))


# ---- spliced images -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplicedCheck:
    """Paper 004's spliced check over ``splices`` images: ``hits[c]`` = how many of class ``c``'s maps put more
    than half their mass on the half showing an image of class ``c``, out of ``maps_per_class[c]`` maps of that class
    (``splices`` each for the two classes of a binary head); ``value`` = all hits over all maps."""

    task: str
    layer: str
    hits: dict[str, int]
    splices: int
    chance: float = SPLICED_CHANCE
    criterion: float = SPLICED_CRITERION
    maps_per_class: dict[str, int] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return sum(self.hits.values()) / max(sum(self.maps_per_class.values()), 1)

    @property
    def passed(self) -> bool:
        return self.value >= self.criterion

    def describe(self) -> str:
        maps = self.maps_per_class
        counts = (", ".join(f"{name} {self.hits[name]}/{maps[name]}" for name in self.hits) if len(maps) <= 2 else
                  f"{sum(self.hits.values())}/{sum(maps.values())} maps, {len(maps)} classes")
        verdict = "pass" if self.passed else "fail"
        return (f"spliced check, Grad-CAM {self.task} at {self.layer}: the deciding half in {self.value:.0%} "
                f"({counts}; chance {self.chance:.0%}, need ≥ {self.criterion:.0%}) — {verdict}")

    def as_dict(self) -> dict:
        """The numbers for a results file: ``value`` (share of the maps that pick the deciding half), ``n``
        splices, the maps and hits per class, chance, criterion, verdict and the line :meth:`describe` gives."""
        maps = self.maps_per_class
        return {"task": self.task, "layer": self.layer, "value": self.value, "chance": self.chance,
                "n": self.splices, "maps": sum(maps.values()), "maps_per_class": dict(maps), "hits": dict(self.hits),
                "criterion": self.criterion, "passed": self.passed, "description": self.describe()}


def _left_shares(model: nn.Module, spliced: torch.Tensor, layer: str, task: str, target, batch_size: int) -> np.ndarray:
    cams = grad_cam(model, spliced, layer, task, target, batch_size=batch_size)
    return np.array([cam_mass_in_box(cam, half_box("left")) for cam in cams])  # NaN for an empty map


def spliced_check(model: nn.Module, images: torch.Tensor, labels: Sequence[int] | np.ndarray | torch.Tensor, *,
                  task: str = "aesthetic", layer: str | None = None, splices: int = 100,
                  classes: tuple[int, int] | None = None, seed: int = 0, mode: str = "squeeze",
                  batch_size: int = 64) -> SplicedCheck:
    """Join ``splices`` random pairs (one image of each of ``classes``, by ``labels``) with
    :func:`aelab.viz.cam.spliced_image`, the first class on the left in even splices and on the right in odd ones,
    and count for each class how often its Grad-CAM map favours the half showing that class (paper 004, Fig. 6).
    ``classes=None`` (default): ``(0, 1)`` for a head of two classes; for a head of more (emotion) each splice joins
    two images of different classes drawn at random, and each of the two maps explains its own image's class.
    Labels outside the head's classes (``-1``: missing) are left out."""
    images = check_images(images)
    splices = check_count("splices", splices)
    labels = np.asarray(torch.as_tensor(labels).cpu()).reshape(-1)
    if labels.size != images.shape[0]:
        raise ConfigError("labels", f"{labels.size} labels", f"one class index per image ({images.shape[0]})")
    layer = layer or focus_layer(model, task)
    rng = np.random.default_rng(seed)
    count = len(task_classes(model, task))
    if classes is None and count > 2:
        known = (labels >= 0) & (labels < count)
        return _spliced_any_classes(model, images[torch.as_tensor(known)], labels[known], task, layer, splices, rng,
                                    mode, batch_size)
    classes = (0, 1) if classes is None else classes
    pools = [np.flatnonzero(labels == c) for c in classes]
    names = target_names(model, task, list(classes))
    if min(len(p) for p in pools) == 0:
        counts = ", ".join(f"{n}: {len(p)}" for n, p in zip(names, pools))
        raise AelabError(f"the spliced check needs images of both classes of {task}; the images hold {counts}")
    chosen = np.stack([rng.choice(pool, size=splices) for pool in pools], axis=1)  # (splices, 2) image indices
    first_left = np.arange(splices) % 2 == 0
    pairs = [(images[a], images[b]) if left else (images[b], images[a]) for (a, b), left in zip(chosen, first_left)]
    spliced = torch.stack([spliced_image(left, right, mode) for left, right in pairs])
    hits = {}
    for index, (name, target) in enumerate(zip(names, classes)):
        left_share = _left_shares(model, spliced, layer, task, target, batch_size)
        on_left = first_left if index == 0 else ~first_left  # where this class's image sits
        hits[name] = int(np.where(on_left, left_share > 0.5, left_share < 0.5).sum())
    return SplicedCheck(task, layer, hits, splices, maps_per_class=dict.fromkeys(hits, splices))


def _spliced_any_classes(model: nn.Module, images: torch.Tensor, labels: np.ndarray, task: str, layer: str,
                         splices: int, rng: np.random.Generator, mode: str, batch_size: int) -> SplicedCheck:
    """:func:`spliced_check` with ``classes=None``: pairs of images of two different classes."""
    if len(np.unique(labels)) < 2:
        held = f"all {target_names(model, task, labels[:1])[0]}" if labels.size else "none with a label"
        raise AelabError(f"the spliced check needs images of at least two classes of {task}; the images are {held}")
    left = rng.choice(labels.size, size=splices)
    right = np.array([rng.choice(np.flatnonzero(labels != labels[a])) for a in left])
    spliced = torch.stack([spliced_image(images[a], images[b], mode) for a, b in zip(left, right)])
    names = target_names(model, task, sorted(set(labels[left]) | set(labels[right])))
    hits, maps = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    for shown, picks_left in ((left, True), (right, False)):
        left_share = _left_shares(model, spliced, layer, task, torch.as_tensor(labels[shown]), batch_size)
        picked = left_share > 0.5 if picks_left else left_share < 0.5
        for name, hit in zip(target_names(model, task, labels[shown]), picked):
            hits[name] += int(hit)
            maps[name] += 1
    return SplicedCheck(task, layer, hits, splices, maps_per_class=maps)


# ---- on a trained run ----------------------------------------------------------------------------------------


def held_out(run, n: int, seed: int = 0):
    """``(loaded run, held-out SynthAE examples with subject boxes)``; AelabError when the run's data has none."""
    from aelab.load import load_run

    n = check_count("n", n)
    loaded = load_run(run)
    data = loaded.examples(n, seed=seed)
    if data.boxes is None:
        raise AelabError(f"{loaded.folder}: the faithfulness checks need SynthAE's subject boxes, but the run was "
                         f"trained on data={loaded.config.get('data')!r}")
    return loaded, data


def subject_focus_of_run(run: str | Path, n: int = 200, *, seed: int = 0, **options) -> SubjectFocus:
    """:func:`subject_focus` of a trained run on ``n`` held-out SynthAE images (options as there)."""
    loaded, data = held_out(run, n, seed)
    return subject_focus(loaded.model, data.images, data.boxes, **options)


def spliced_check_of_run(run: str | Path, splices: int = 100, n: int = 200, *, task: str = "aesthetic", seed: int = 0,
                         **options) -> SplicedCheck:
    """:func:`spliced_check` of a trained run: ``splices`` pairs drawn from ``n`` held-out SynthAE images, by their
    true ``task`` labels."""
    loaded, data = held_out(run, n, seed)
    return spliced_check(loaded.model, data.images, data.labels[task], task=task, splices=splices, seed=seed,
                         **options)
