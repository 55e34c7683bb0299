"""One interactive explorer over a trained run: layer, channel, image, neuron-group count, task and class.

Four panels: the channel's picture from the layer atlas, the image's spatial-position grid (paper 004 eq. 3),
its neuron groups (eqs. 4–5, drawn from the atlas) and the Grad-CAM map of the chosen task and class.
Atlases are computed on first use of a layer and cached in the run folder. The run is loaded with
:func:`aelab.load_run`, so images, atlases and maps all go through the normalisation it was trained with.

Besides the held-out images, your own photographs can be explored: files or folders given as ``photos=`` (or
later to :meth:`Explorer.add_photos`) and files dropped on the widget's upload button. They keep their aspect
ratio, the short side resized to the run's input size (:func:`aelab.viz.explain.photo_from_image`).
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from PIL import Image

from aelab.data.images import open_rgb
from aelab.errors import AelabError
from aelab.load import LoadedRun, load_run
from aelab.prediction import image_files, warn_about_domain
from aelab.task_kinds import kind_of
from aelab.tasks import get_task
from aelab.viz.atlas import layer_atlas
from aelab.viz.cam import grad_cam
from aelab.viz.explain import photo_from_image
from aelab.viz.groups import group_images, neuron_groups
from aelab.viz.overlays import overlay, to_hwc
from aelab.viz.render import RenderSettings, layer_channels
from aelab.viz.spatial import spatial_grid


@dataclass
class ExplorerImage:
    """One image of the explorer: ``inputs`` the model's input ``(3, h, w)``, ``pixels`` the same in [0, 1]."""

    name: str
    inputs: torch.Tensor
    pixels: torch.Tensor


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
        self.settings = settings or RenderSettings(steps=64, size=64, seed=seed)
        self.data = self.loaded.examples(n_images, seed=seed)
        self.tasks = [get_task(t) for t in self.config["tasks"] if kind_of(get_task(t)).exclusive]
        self._atlases: dict[str, torch.Tensor] = {}
        self.images = [ExplorerImage(f"held-out {i}", inputs, pixels)
                       for i, (inputs, pixels) in enumerate(zip(self.data.images, self.data.pixels))]
        self.skipped: list[str] = []
        self.upload: widgets.FileUpload | None = None
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
        if layer not in self._atlases:
            self._atlases[layer] = layer_atlas(self.model, layer, self.settings, cache_dir=self.run / "atlas",
                                               progress=False)
        return self._atlases[layer]

    def figure(self, layer: str, channel: int, image: int, groups: int, task: str, target: int) -> plt.Figure:
        """The four panels for one choice of controls."""
        atlas = self.atlas(layer)
        channel = min(channel, len(atlas) - 1)
        shown = self.images[image]
        picture = shown.inputs
        grid = spatial_grid(self.model, picture, layer, atlas)
        m, n = grid.activation_size
        groups = max(1, min(groups, m * n))  # NMF cannot find more groups than the layer has positions
        found = neuron_groups(self.model, picture, layer, n_groups=groups)
        group_pictures = group_images(found.channels, atlas)
        try:
            cam = grad_cam(self.model, picture[None], layer, task, target=target)[0]
        except RuntimeError as error:  # the task's output does not depend on this layer (another task's branch)
            if "not have been used in the graph" not in str(error):
                raise
            cam = None
        figure, axes = plt.subplots(1, 3 + groups, figsize=(3 * (3 + groups), 3.3))
        axes[0].imshow(to_hwc(atlas[channel]))
        axes[0].set_title(f"{layer} · channel {channel}", fontsize=9)
        axes[1].imshow(to_hwc(grid.mosaic()))
        axes[1].set_title(f"spatial grid · {layer}", fontsize=9)
        for g in range(groups):
            axes[2 + g].imshow(to_hwc(group_pictures[g]))
            axes[2 + g].set_title(f"neuron group {g + 1}/{groups}", fontsize=9)
        if cam is None:
            axes[-1].imshow(to_hwc(shown.pixels))
            axes[-1].set_title(f"no Grad-CAM: {task} does not use {layer}", fontsize=9)
        else:
            axes[-1].imshow(overlay(to_hwc(shown.pixels), cam.numpy()))
            axes[-1].set_title(f"Grad-CAM · {task} = {get_task(task).classes[target]}\n{shown.name}", fontsize=9)
        for ax in axes:
            ax.axis("off")
        figure.tight_layout()
        return figure

    def controls(self) -> dict[str, widgets.Widget]:
        names = [t.name for t in self.tasks]
        branch = self.layers[-1].partition(".")[0]  # start on the task whose branch holds the default layer
        task = widgets.Dropdown(options=names, value=branch if branch in names else names[0], description="task")
        return {
            "layer": widgets.Dropdown(options=self.layers, value=self.layers[-1], description="layer"),
            "channel": widgets.IntSlider(0, 0, 1023, description="channel"),
            "image": widgets.IntSlider(0, 0, len(self.images) - 1, description="image"),
            "groups": widgets.IntSlider(2, 1, 6, description="groups"),
            "task": task,
            "target": widgets.Dropdown(options=[(n, i) for i, n in enumerate(get_task(task.value).classes)],
                                       description="class"),
        }

    def widget(self) -> widgets.VBox:
        """The interactive explorer: changing any control redraws the panels."""
        controls = self.controls()
        output = widgets.Output()

        def classes(change=None) -> None:
            names = get_task(controls["task"].value).classes
            controls["target"].options = [(name, index) for index, name in enumerate(names)]

        def redraw(change=None) -> None:
            with output:
                output.clear_output(wait=True)
                values = {name: control.value for name, control in controls.items()}
                figure = self.figure(**values)
                display(figure)  # this figure only: plt.show() would also draw any other open figure
                plt.close(figure)

        def channels(change=None) -> None:
            controls["channel"].max = layer_channels(self.model, controls["layer"].value) - 1

        controls["task"].observe(classes, names="value")
        controls["layer"].observe(channels, names="value")
        classes()
        channels()
        for control in controls.values():
            control.observe(redraw, names="value")
        self.upload, notice = self._upload_controls(controls["image"])
        redraw()
        output.add_class("aelab-explorer-output")  # stable names for people's CSS and the browser tests
        view = widgets.VBox([widgets.HBox(list(controls.values())[:3]), widgets.HBox(list(controls.values())[3:]),
                             widgets.HBox([self.upload, notice]), output])
        view.add_class("aelab-explorer")
        return view

    def _upload_controls(self, image: widgets.IntSlider) -> tuple[widgets.FileUpload, widgets.HTML]:
        """An upload button whose files join the images (the slider moves to the first) and a line naming the
        files that could not be read."""
        upload = widgets.FileUpload(accept="image/*", multiple=True, description="your photos")
        notice = widgets.HTML("<br>".join(html.escape(line) for line in self.skipped))

        def uploaded(change) -> None:
            added = self.add_uploads(change["new"])
            image.max = len(self.images) - 1
            notice.value = "<br>".join(html.escape(line) for line in self.skipped)
            if added:
                image.value = added[0]

        upload.observe(uploaded, names="value")
        return upload, notice
