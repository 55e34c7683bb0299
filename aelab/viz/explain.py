"""Explain any photograph with a trained run: its prediction, Grad-CAM, NMF neuron groups and the eq. 3 grid.

``explain(run, photos)`` (and ``aelab explain RUN PHOTO...``) gives, for each photo, every task's classes and
probabilities, the Grad-CAM map (Selvaraju et al. 2017) of each task's predicted class, the NMF neuron groups with
their "where" maps (paper 004 eqs. 4–5) and the spatial-position grid (paper 004 eq. 3) at one probe layer per
task, as one figure (:mod:`aelab.viz.explain_figure`) and a JSON-ready dict of the numbers.

Geometry: any image Pillow reads becomes 8-bit RGB (:func:`aelab.data.images.open_rgb`); its short side is
resized to the run's input size (or ``size``) and the aspect ratio is kept, so the network sees the whole photo
— every backbone ends in global average pooling, so a non-square input gives the same outputs. The photo is
resized before anything else runs, so a 3000×2000 picture costs what a ``size``-pixel one does; the figure
draws it undistorted.

Layers: by default, for each task the deepest probe layer of its own branch (of the shared trunk when the model
has no branch per task) whose activation map is at least :data:`MIN_GRID_SIDE` positions on its short side, so
the maps have places to point at (at 64 px on the tiny backbone: the 4th stage or its connector). ``layer``
names one layer for all tasks or ``{task: layer}``.

Numbers (the JSON file): the photo's and the network input's size, what the run was trained on, each task's
predicted class and probabilities (or score), each Grad-CAM map's layer, class, centre of mass and share of mass
in the cells of the rule-of-thirds 3×3 grid, and per layer the spatial grid's cells and the neuron groups (NMF
relative error, each group's share of the loading, centre and strongest channels).

Honesty about the domain: a run trained on SynthAE says what SynthAE's planted factors would be, not what the
photo's aesthetics or emotion are; explaining photographs with one warns once per call
(:func:`aelab.prediction.warn_about_domain`) and the figure and JSON say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from aelab.data.images import open_rgb, to_rgb
from aelab.errors import AelabError, ConfigError
from aelab.io import write_atomic, write_json_atomic
from aelab.load import LoadedRun, load_run
from aelab.models.inputs import call_model
from aelab.prediction import (CHECKPOINTS, IMAGE_SUFFIXES, SYNTHETIC_DOMAINS, image_files, training_domain,
                              warn_about_domain)
from aelab.task_kinds import kind_of
from aelab.tasks import Task, get_task
from aelab.text.tokenize import join_comments
from aelab.train.config_checks import check_device, choices, integer
from aelab.viz.atlas import run_atlas
from aelab.viz.cam import box_weights, grad_cam, head_uses_layer, predicted_targets, target_names
from aelab.viz.groups import NeuronGroups, neuron_groups
from aelab.viz.probe import layer_activations, probe_layers
from aelab.viz.render import RenderSettings
from aelab.viz.spatial import SpatialGrid, spatial_grid

MIN_SIZE = 32
"""Smallest short side fed to a network: the backbones downsample 32-fold."""
MIN_GRID_SIDE = 4
"""The default probe layer of a task is the deepest whose map has at least this many positions on its short side."""
DISPLAY_SIDE = 512
"""Long side (px) of the photo as drawn in the figure (larger photos are shrunk for drawing only)."""
DEFAULT_GROUPS = 3
DEFAULT_SETTINGS = RenderSettings(steps=64, size=64)
"""Render settings of the layer atlases behind the grids (the explorer's: the cached atlases are shared)."""
"""Task kinds with a Grad-CAM view (:class:`aelab.viz.cam.TaskOutput`)."""
THIRDS = 3


# ---- photographs ------------------------------------------------------------------------------------------------


@dataclass
class Photo:
    """One photograph ready for a network: ``pixels`` ``(3, h, w)`` in [0, 1] with the short side at the input
    size, ``display`` (the photo shrunk to :data:`DISPLAY_SIDE` for drawing) and its ``size`` ``(width, height)``."""

    name: str
    pixels: torch.Tensor
    display: Image.Image
    size: tuple[int, int]

    @property
    def aspect(self) -> float:
        return self.size[0] / self.size[1]


def input_shape(width: int, height: int, side: int) -> tuple[int, int]:
    """``(h, w)`` of a ``width × height`` picture whose short side becomes ``side`` (aspect ratio kept)."""
    scale = side / min(width, height)
    return (side if height <= width else round(height * scale)), (side if width <= height else round(width * scale))


def photo_from_image(image: Image.Image, side: int, name: str = "photo") -> Photo:
    """A :class:`Photo` from a picture of any size and mode (:func:`aelab.data.images.to_rgb`): resized once for
    the network and once for display."""
    image = to_rgb(image)
    height, width = input_shape(*image.size, side)
    small = image.resize((width, height), Image.BICUBIC, reducing_gap=3.0)
    pixels = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
    display = image.copy() if max(image.size) <= DISPLAY_SIDE else image.resize(
        _display_size(*image.size), Image.BICUBIC, reducing_gap=3.0)
    return Photo(name, pixels, display, image.size)


def _display_size(width: int, height: int) -> tuple[int, int]:
    scale = DISPLAY_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def read_photo(path: str | Path, side: int) -> Photo:
    """:func:`photo_from_image` of the file at ``path`` (any mode Pillow reads; errors name the file)."""
    with open_rgb(path, "photo") as image:
        return photo_from_image(image, side, Path(path).name)


# ---- arguments ----------------------------------------------------------------------------------------------------


def default_layer(model: torch.nn.Module, task: str, side: int) -> str:
    """The probe layer a task is explained at by default (see the module docstring)."""
    names = probe_layers(model)
    own = [name for name in names if name.startswith(f"{task}.")] or names
    probe = torch.zeros(1, 3, side, side)
    for name in reversed(own):
        if min(layer_activations(model, probe, name).shape[-2:]) >= MIN_GRID_SIDE:
            return name
    return own[-1]


def _explained_tasks(config: Mapping[str, Any], task: str | Sequence[str] | None) -> list[Task]:
    known = [get_task(t) for t in config["tasks"] if kind_of(get_task(t)).predicted]
    names = [t.name for t in known]
    wanted = names if task is None else [task] if isinstance(task, str) else list(task)
    for name in wanted:
        if name not in names:
            raise ConfigError("task", name, choices(name, names))
    return [t for t in known if t.name in wanted]


def _layers(loaded: LoadedRun, tasks: list[Task], layer: str | Mapping[str, str] | None,
            side: int) -> dict[str, str]:
    names = probe_layers(loaded.model)
    given = {t.name: layer for t in tasks} if isinstance(layer, str) else dict(layer or {})
    explained = [t.name for t in tasks]
    for task, name in given.items():
        if task not in explained:
            raise ConfigError("layer", f"{task}={name}", f"TASK=LAYER for an explained task, {choices(task, explained)}")
        if name not in names:
            raise ConfigError("layer", name, f"a probe layer of the run, {choices(name, names)}")
    return {t.name: given.get(t.name) or default_layer(loaded.model, t.name, side) for t in tasks}


def _output_folder(output: str | Path | None, make: bool = False) -> Path | None:
    """The folder for the files (checked; made when ``make``), or None."""
    if output is None:
        return None
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise ConfigError("output", str(folder), "a folder for the figures and JSON files, not a file")
    try:
        if make:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError("output", str(folder), f"a folder that can be made ({error.strerror or error})") from None
    return folder


# ---- numbers -------------------------------------------------------------------------------------------------------


def _prediction(tasks: list[Task], outputs: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Each predicted task's class and probabilities (or score) for the one photo, as its task kind reads them."""
    present = [t for t in tasks if t.name in outputs and kind_of(t).predicted]
    return {t.name: {"kind": t.kind, **kind_of(t).summary(t, outputs[t.name][0].float())} for t in present}


def thirds(cam: torch.Tensor) -> list[list[float]]:
    """Share of a map's mass in each cell of the rule-of-thirds 3×3 grid (rows top to bottom)."""
    values = cam.detach().float().cpu().numpy()
    total = float(values.sum())
    edges = np.linspace(0, 1, THIRDS + 1)
    return [[0.0 if total == 0 else float((values * box_weights((edges[j], edges[i], edges[j + 1], edges[i + 1]),
                                                                  *values.shape)).sum() / total)
             for j in range(THIRDS)] for i in range(THIRDS)]


def _centroid(values: torch.Tensor) -> list[float] | None:
    """Centre of mass ``(x, y)`` of a non-negative map as fractions of its width and height."""
    total = float(values.sum())
    if total <= 0:
        return None
    rows, cols = values.shape
    y = float((values.sum(dim=1) * (torch.arange(rows) + 0.5)).sum()) / total / rows
    x = float((values.sum(dim=0) * (torch.arange(cols) + 0.5)).sum()) / total / cols
    return [round(x, 4), round(y, 4)]


def _group_numbers(groups: NeuronGroups, top: int = 5) -> dict[str, Any]:
    maps = groups.spatial[0]
    total = float(maps.sum()) or 1.0
    listed = []
    for g in range(groups.n_groups):
        weights, channels = groups.channels[g].topk(min(top, groups.channels.shape[1]))
        listed.append({"share_of_loading": float(maps[g].sum()) / total, "centre": _centroid(maps[g]),
                       "top_channels": [[int(c), round(float(w), 4)] for c, w in zip(channels, weights)]})
    return {"relative_error": groups.relative_error, "clipped_energy": groups.clipped_energy, "groups": listed}


# ---- one photo -----------------------------------------------------------------------------------------------------


@dataclass
class TaskMap:
    """Grad-CAM of one task's predicted class at ``layer`` (``cam`` None, with ``note``, when the task's output
    does not depend on that layer)."""

    task: str
    layer: str
    target: int
    class_name: str
    cam: torch.Tensor | None
    note: str = ""


@dataclass
class LayerViews:
    """The spatial grid (eq. 3) and the neuron groups (eqs. 4–5) of the photo at one layer."""

    layer: str
    grid: SpatialGrid
    groups: NeuronGroups


@dataclass
class PhotoExplanation:
    """Everything shown for one photo; ``numbers`` is what the JSON file holds. ``figure`` is None once saved
    to files (``png``, ``json``)."""

    photo: Photo
    path: Path | None
    prediction: dict[str, Any]
    maps: list[TaskMap]
    views: list[LayerViews]
    numbers: dict[str, Any]
    figure: Figure | None = None
    png: Path | None = None
    json: Path | None = None


@dataclass
class Explanations:
    """One :class:`PhotoExplanation` per photo explained, and the photos that could not be (path, error)."""

    photos: list[PhotoExplanation] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


class _Explainer:
    """The run, the layers and the atlases (cached per layer) shared by every photo of one call."""

    def __init__(self, loaded: LoadedRun, tasks: list[Task], layers: dict[str, str], side: int, n_groups: int,
                 settings: RenderSettings, progress: bool):
        self.loaded, self.tasks, self.layers, self.side = loaded, tasks, layers, side
        self.n_groups, self.settings, self.progress = n_groups, settings, progress
        self.all_tasks = [get_task(t) for t in loaded.config["tasks"]]
        self.atlases: dict[str, torch.Tensor] = {}
        self.domain = training_domain(loaded.config)

    def atlas(self, layer: str) -> torch.Tensor:
        if layer not in self.atlases:
            self.atlases[layer] = run_atlas(self.loaded, layer, self.settings, progress=self.progress)
        return self.atlases[layer]

    def task_map(self, inputs: torch.Tensor, task: Task) -> TaskMap:
        model, layer = self.loaded.model, self.layers[task.name]
        target = int(predicted_targets(model, inputs, task.name)[0])
        name = target_names(model, task.name, [target])[0]
        if not head_uses_layer(model, layer, task.name, inputs):  # another branch's last layer
            return TaskMap(task.name, layer, target, name, None, f"{task.name} does not use {layer}")
        cam = grad_cam(model, inputs, layer, task.name, target, check_dependency=False)[0]  # checked just above
        return TaskMap(task.name, layer, target, name, cam)

    def layer_views(self, inputs: torch.Tensor, layer: str) -> LayerViews:
        model = self.loaded.model
        grid = spatial_grid(model, inputs[0], layer, self.atlas(layer))
        m, n = grid.activation_size
        groups = neuron_groups(model, inputs, layer, n_groups=max(1, min(self.n_groups, m * n, grid.weights.shape[-1])))
        return LayerViews(layer, grid, groups)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> dict[str, Any]:
        outputs = call_model(self.loaded.model, {"image": inputs, "comments": [join_comments(None)]},
                             self.loaded.device)
        return _prediction(self.all_tasks, outputs)

    def __call__(self, photo: Photo, path: Path | None = None) -> PhotoExplanation:
        inputs = self.loaded.normalize(photo.pixels[None])
        prediction = self.predict(inputs)
        maps = [self.task_map(inputs, task) for task in self.tasks]
        views = [self.layer_views(inputs, layer) for layer in dict.fromkeys(self.layers.values())]
        return PhotoExplanation(photo, path, prediction, maps, views, self.numbers(photo, path, prediction, maps,
                                                                                  views))

    def numbers(self, photo: Photo, path: Path | None, prediction: dict[str, Any], maps: list[TaskMap],
                views: list[LayerViews]) -> dict[str, Any]:
        name = SYNTHETIC_DOMAINS.get(self.domain)
        return {
            "photo": str(path) if path is not None else photo.name,
            "run": str(self.loaded.folder),
            "trained_on": self.domain,
            "warning": None if name is None else f"trained on {name}: the predictions describe {name}'s planted "
                                                 "factors, not this photograph's aesthetics or emotion",
            "photo_size": list(photo.size),
            "input_size": [int(photo.pixels.shape[2]), int(photo.pixels.shape[1])],
            "prediction": prediction,
            "grad_cam": {m.task: {"layer": m.layer, "class": m.class_name, "target": m.target,
                                  **({"note": m.note} if m.cam is None else
                                     {"thirds": thirds(m.cam), "centre": _centroid(m.cam)})} for m in maps},
            "layers": {v.layer: {"activation_size": list(v.grid.activation_size),
                                 "spatial_grid": {"label": v.grid.label, "cell": v.grid.cell,
                                                  "cells": list(v.grid.shape)},
                                 "neuron_groups": _group_numbers(v.groups)} for v in views},
        }


# ---- the call --------------------------------------------------------------------------------------------------------


def _file_stem(path: Path, taken: set[str]) -> str:
    stem, count = f"{path.stem}-explained", 1
    while stem in taken:
        stem, count = f"{path.stem}-{count}-explained", count + 1
    taken.add(stem)
    return stem


def _save(explained: PhotoExplanation, folder: Path, stem: str) -> None:
    figure = explained.figure
    explained.png = write_atomic(folder / f"{stem}.png", lambda stream: figure.savefig(stream, format="png", dpi=100),
                                 binary=True)
    explained.json = write_json_atomic(explained.numbers, folder / f"{stem}.json")
    import matplotlib.pyplot as plt

    plt.close(figure)
    explained.figure = None


def _explainer(loaded: LoadedRun, layer: str | Mapping[str, str] | None, task: str | Sequence[str] | None,
               size: int | None, n_groups: int, settings: RenderSettings, progress: bool) -> _Explainer:
    """Check the arguments against the run; the explainer of one call (warns once about a synthetic domain)."""
    integer(1)("n_groups", n_groups)
    if size is not None:
        integer(MIN_SIZE)("size", size)
    side = max(size or int(loaded.config["image_size"]), MIN_SIZE)
    tasks = _explained_tasks(loaded.config, task)
    explainer = _Explainer(loaded, tasks, _layers(loaded, tasks, layer, side), side, n_groups, settings, progress)
    warn_about_domain(loaded.config, loaded.folder, stacklevel=4)
    return explainer


def explain(run: str | Path | LoadedRun, photos: str | Path | Sequence[str | Path], *,
            layer: str | Mapping[str, str] | None = None, task: str | Sequence[str] | None = None,
            output: str | Path | None = None, size: int | None = None, n_groups: int = DEFAULT_GROUPS,
            settings: RenderSettings = DEFAULT_SETTINGS, device: str = "auto", checkpoint: str = "best",
            progress: bool = False) -> Explanations:
    """Explain each photo (files or folders of them) with the trained ``run`` (see the module docstring).

    ``layer``: one probe layer for every task, or ``{task: layer}`` (default: :func:`default_layer`); ``task``: the
    task(s) whose Grad-CAM and layers are shown (default: all; the prediction always lists every task); ``size``:
    the short side fed to the network (default: the run's ``image_size``); ``n_groups``: NMF neuron groups;
    ``settings``: render settings of the layer atlases (cached in the run folder). With ``output`` each photo's
    figure and numbers are written there as ``<name>-explained.png`` / ``.json`` and the figures closed; without
    it the figures are returned open. A photo that cannot be read is listed in ``errors`` and the others are
    still explained; a bad argument raises :class:`~aelab.errors.ConfigError` before any photo is read.
    """
    from aelab.viz.explain_figure import explanation_figure

    paths = [photos] if isinstance(photos, (str, Path)) else list(photos)
    if not paths:
        raise ConfigError("photos", [], "at least one image file or folder")
    check_device("device", device)
    if checkpoint not in CHECKPOINTS:
        raise ConfigError("checkpoint", checkpoint, choices(checkpoint, CHECKPOINTS))
    files = image_files(paths)
    if not files:
        raise ConfigError("photos", ", ".join(map(str, paths)),
                          f"image files or folders holding some ({', '.join(sorted(IMAGE_SUFFIXES))})")
    _output_folder(output)
    explainer = _explainer(load_run(run, checkpoint, device), layer, task, size, n_groups, settings, progress)
    folder = _output_folder(output, make=True)
    result, taken = Explanations(), set()
    for path in files:
        try:
            photo = read_photo(path, explainer.side)
        except (AelabError, OSError) as error:
            result.errors.append({"path": str(path), "error": str(error)})
            continue
        explained = explainer(photo, path)
        explained.figure = explanation_figure(explained)
        if folder is not None:
            _save(explained, folder, _file_stem(path, taken))
        result.photos.append(explained)
    return result


def explain_image(run: str | Path | LoadedRun, image: Image.Image, name: str = "photo", *,
                  layer: str | Mapping[str, str] | None = None, task: str | Sequence[str] | None = None,
                  size: int | None = None, n_groups: int = DEFAULT_GROUPS, settings: RenderSettings = DEFAULT_SETTINGS,
                  progress: bool = False) -> PhotoExplanation:
    """:func:`explain` of one picture already in memory (an upload, a crop): the explanation with its figure."""
    from aelab.viz.explain_figure import explanation_figure

    explainer = _explainer(load_run(run), layer, task, size, n_groups, settings, progress)
    explained = explainer(photo_from_image(image, explainer.side, name))
    explained.figure = explanation_figure(explained)
    return explained


__all__ = ["Explanations", "Photo", "PhotoExplanation", "default_layer", "explain", "explain_image", "input_shape",
           "photo_from_image", "read_photo"]
