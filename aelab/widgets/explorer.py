"""One interactive explorer over a trained run: layer, channel, image, neuron-group count, task and class.

The input image itself with the class each task head predicts for it, then four panels: the channel's picture
from the layer atlas, the image's spatial-position grid (paper 004 eq. 3), its neuron groups (eqs. 4–5, drawn from
the atlas; these two are averages of many channel pictures, shown with each colour channel stretched,
:func:`aelab.viz.overlays.stretch_channels`) and the Grad-CAM map of the chosen task and class, each with its number
(:mod:`aelab.widgets.explorer_numbers`), and a class visualisation of any task's class with its SynthAE recipe match
(:mod:`aelab.widgets.explorer_class_view`). Atlases are computed on first use of a layer, with a progress bar, and
cached in the run folder. The run is loaded with :func:`aelab.load_run`, so images, atlases and maps all go through
the normalisation it was trained with.

Besides the held-out images, your own photographs can be explored: files or folders given as ``photos=`` (or
later to :meth:`Explorer.add_photos`) and files dropped on the widget's upload button. They keep their aspect
ratio, the short side resized to the run's input size (:func:`aelab.viz.explain.photo_from_image`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from PIL import Image

from aelab.data.images import open_rgb
from aelab.errors import AelabError
from aelab.load import LoadedRun, load_run
from aelab.prediction import image_files, warn_about_domain
from aelab.task_kinds import kind_of
from aelab.tasks import Task, get_task
from aelab.viz.atlas import ATLAS_SETTINGS, layer_atlas
from aelab.viz.cam import grad_cam, head_uses_layer
from aelab.viz.explain import photo_from_image
from aelab.viz.groups import NeuronGroups, group_images, neuron_groups
from aelab.viz.overlays import normalised_mosaic, overlay, stretch_channels, to_hwc
from aelab.viz.probe import layer_activations
from aelab.viz.render import RenderSettings
from aelab.viz.spatial import SpatialGrid, spatial_grid
from aelab.widgets.explorer_numbers import (PanelNumbers, channel_activation, grid_numbers, group_numbers,
                                            predictions, subject_box_share)
from aelab.widgets.explorer_widget import explorer_widget


@dataclass
class ExplorerImage:
    """One image of the explorer: ``inputs`` the model's input ``(3, h, w)``, ``pixels`` the same in [0, 1]."""

    name: str
    inputs: torch.Tensor
    pixels: torch.Tensor
    box: tuple[float, ...] | None = None
    """SynthAE's subject box ``(x0, y0, x1, y1)`` of a held-out image (None: no ground truth)."""


@dataclass
class Panels:
    """What one choice of controls shows: the layer's ``atlas``, the ``grid`` (eq. 3), the neuron ``groups``
    (eqs. 4–5) and their pictures, the Grad-CAM map (None when the task does not use the layer) and the numbers."""

    layer: str
    channel: int
    image: ExplorerImage
    atlas: torch.Tensor
    grid: SpatialGrid
    groups: NeuronGroups
    group_pictures: torch.Tensor
    cam: torch.Tensor | None
    task: str
    target: int
    numbers: PanelNumbers


class Explorer:
    """Widgets bound to one run; ``figure(...)`` draws the same figure from arguments (headless notebooks).

    ``images``: the held-out images, then your own (``photos=``, :meth:`add_photos`, :meth:`add_uploads`);
    ``skipped``: one line per file of yours that could not be read."""

    def __init__(self, run: str | Path | LoadedRun, layers: list[str] | None = None, n_images: int = 16,
                 settings: RenderSettings | None = None, seed: int = 0,
                 photos: str | Path | Sequence[str | Path] | None = None):
        self.loaded = load_run(run)
        self.run, self.model, self.config = self.loaded.folder, self.loaded.model, self.loaded.config
        self.layers = layers or self.model.probe_layers()
        self.settings = settings or replace(ATLAS_SETTINGS, seed=seed)
        self.data = self.loaded.examples(n_images, seed=seed)
        self.tasks = [get_task(t) for t in self.config["tasks"] if kind_of(get_task(t)).exclusive]
        self._atlases: dict[str, torch.Tensor] = {}
        boxes = self.data.boxes or [None] * len(self.data.images)
        self.images = [ExplorerImage(f"held-out {i}", inputs, pixels, None if box is None else tuple(box))
                       for i, (inputs, pixels, box) in enumerate(zip(self.data.images, self.data.pixels, boxes))]
        self.skipped: list[str] = []
        self.upload: widgets.FileUpload | None = None
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="atlas",
                                            layout=widgets.Layout(display="none"))
        self.progress.add_class("aelab-explorer-progress")
        if photos is not None:
            self.add_photos([photos] if isinstance(photos, (str, Path)) else photos)

    # ---- your own photographs ----------------------------------------------------------------------------------

    def add_image(self, image: Image.Image, name: str) -> int:
        """Add a PIL picture (any size, RGB) as an explorer image; its index."""
        photo = photo_from_image(image, int(self.config["image_size"]), name)
        self.images.append(ExplorerImage(name, self.loaded.normalize(photo.pixels), photo.pixels))
        return len(self.images) - 1

    def add_photos(self, paths: Sequence[str | Path]) -> list[int]:
        """Add image files and the image files of folders; the indices added (unreadable files go to
        ``skipped``). A run trained on SynthAE warns once that it describes SynthAE's factors, not photos."""
        added = []
        for path in image_files(paths):
            try:
                with open_rgb(path, "photo") as image:
                    added.append(self.add_image(image, Path(path).name))
            except (AelabError, OSError) as error:
                self.skipped.append(str(error))
        if added:
            warn_about_domain(self.config, self.run)
        return added

    def add_uploads(self, files: Sequence[Mapping]) -> list[int]:
        """Add the files of an ipywidgets ``FileUpload`` value (each with ``name`` and ``content``); the indices
        added. Each is decoded as a file would be (:func:`aelab.data.images.open_rgb`), so the same modes and
        size limit apply and an unreadable one is named in ``skipped``."""
        added = []
        with tempfile.TemporaryDirectory() as folder:
            for number, entry in enumerate(files):
                name = Path(str(entry.get("name") or f"upload-{number}")).name
                path = Path(folder) / f"{number}-{name}"
                path.write_bytes(bytes(entry["content"]))
                try:
                    with open_rgb(path, "uploaded photo") as image:
                        added.append(self.add_image(image, name))
                except (AelabError, OSError) as error:
                    self.skipped.append(str(error).replace(str(path), name))
        if added:
            warn_about_domain(self.config, self.run)
        return added

    def atlas(self, layer: str) -> torch.Tensor:
        """The layer's atlas: built on first use (the progress bar shows, and fills, while it renders), then kept;
        a layer already built shows no bar."""
        self.progress.layout.display = "none"
        if layer not in self._atlases:
            self._atlases[layer] = layer_atlas(self.model, layer, self.settings, cache_dir=self.run / "atlas",
                                               progress=False, callback=lambda done, total: self._building(
                                                   layer, done, total))
        return self._atlases[layer]

    def _building(self, layer: str, done: int, total: int) -> None:
        self.progress.max = total
        self.progress.value = done
        self.progress.description = f"atlas {layer}"
        self.progress.layout.display = None

    def panels(self, layer: str, channel: int, image: int, groups: int, task: str, target: int) -> Panels:
        """Everything one choice of controls shows, with each panel's number."""
        atlas = self.atlas(layer)
        channel = min(channel, len(atlas) - 1)
        shown = self.images[image]
        picture = shown.inputs
        grid = spatial_grid(self.model, picture, layer, atlas)
        m, n = grid.activation_size
        groups = max(1, min(groups, m * n))  # NMF cannot find more groups than the layer has positions
        found = neuron_groups(self.model, picture, layer, n_groups=groups)
        cam = (grad_cam(self.model, picture[None], layer, task, target=target, check_dependency=False)[0]
               if head_uses_layer(self.model, layer, task, picture) else None)  # None: another branch's last layer
        with torch.no_grad():
            activation = layer_activations(self.model, picture[None], layer)[0].cpu()
        numbers = PanelNumbers(channel_activation(activation, channel), grid_numbers(grid), group_numbers(found),
                               subject_box_share(cam, shown.box) if cam is not None
                               else f"no Grad-CAM: {task} does not use {layer}",
                               predictions(self.model, picture, self.predicted_tasks))
        return Panels(layer, channel, shown, atlas, grid, found, group_images(found.channels, atlas), cam, task,
                      target, numbers)

    @property
    def predicted_tasks(self) -> list[Task]:
        return [get_task(t) for t in self.config["tasks"] if kind_of(get_task(t)).predicted]

    def figure(self, layer: str, channel: int, image: int, groups: int, task: str, target: int) -> plt.Figure:
        """The four panels for one choice of controls, each titled with its number."""
        return self.draw(self.panels(layer, channel, image, groups, task, target))

    def draw(self, panels: Panels) -> plt.Figure:
        """The figure of :meth:`panels`' result."""
        count = panels.groups.n_groups
        numbers = panels.numbers
        figure, axes = plt.subplots(1, 3 + count, figsize=(3 * (3 + count), 3.6))
        axes[0].imshow(to_hwc(panels.atlas[panels.channel]))
        axes[0].set_title(f"{panels.layer} · channel {panels.channel}\n{numbers.channel}", fontsize=8, wrap=True)
        axes[1].imshow(to_hwc(normalised_mosaic(panels.grid)))
        axes[1].set_title(f"spatial grid · {panels.layer} (stretched)\n{numbers.grid}", fontsize=8)
        groups = stretch_channels(panels.group_pictures)  # eq. 5 averages the atlas towards grey
        for g in range(count):
            axes[2 + g].imshow(to_hwc(groups[g]))
            axes[2 + g].set_title(f"neuron group {g + 1}/{count}" + (" (stretched together)" if count > 1 else
                                                                      " (stretched)")
                                  + (f"\n{numbers.groups}" if g == 0 else ""), fontsize=8)
        shown = panels.image
        if panels.cam is None:
            axes[-1].imshow(to_hwc(shown.pixels))
            axes[-1].set_title(numbers.cam, fontsize=8)
        else:
            axes[-1].imshow(overlay(to_hwc(shown.pixels), panels.cam.numpy()))
            axes[-1].set_title(f"Grad-CAM · {panels.task} = {get_task(panels.task).classes[panels.target]}\n"
                               f"{shown.name}\n{numbers.cam}", fontsize=8, wrap=True)
        for ax in axes:
            ax.axis("off")
        predicted = " · ".join(f"{task}: {text}" for task, text in numbers.predicted.items())
        figure.suptitle(f"{shown.name} — predicted {predicted}", fontsize=9)
        figure.tight_layout()
        return figure

    def widget(self) -> widgets.VBox:
        """The interactive explorer (:func:`aelab.widgets.explorer_widget.explorer_widget`): changing any control
        redraws the input image, its predictions, the panels and their numbers."""
        return explorer_widget(self)
