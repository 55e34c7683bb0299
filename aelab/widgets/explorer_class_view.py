"""The explorer's class-visualisation control: choose a task head and one of its classes, render the image that
maximises that class's logit (Simonyan et al. 2014; :mod:`aelab.viz.class_visualisation`) and show it with, for an
emotion, how it measures against the class's SynthAE recipe
(:func:`aelab.viz.faithfulness.class_check.match_recipe`: dominant hue or saturation, and brightness).

Each class image is rendered once per explorer and kept; a class rendered with its seed index alone equals the one
:func:`~aelab.viz.class_visualisation.class_visualisations` renders among all of the task's classes.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch
from torch import nn

from aelab.data.synthetic.recipes import RECIPES
from aelab.viz.class_visualisation import TaskOutputs, class_names, logit, model_tasks
from aelab.viz.faithfulness.class_check import is_grey, match_recipe
from aelab.viz.render import render
from aelab.viz.render_settings import RenderSettings
from aelab.widgets.explorer_numbers import image_png

NOT_RENDERED = "press “render” to draw this class's image"


def recipe_match(task: str, name: str, image: torch.Tensor) -> str:
    """How a class image ``(3, H, W)`` measures against its SynthAE recipe (emotion classes only)."""
    if task != "emotion" or name not in RECIPES:
        return f"no SynthAE recipe for {task} = {name} (only the emotions have one)"
    recipe, match = RECIPES[name], match_recipe(name, image)
    if is_grey(recipe):
        colour = f"saturation {match.saturation:.2f} (recipe ≤ {recipe.saturation[1]:.2f})"
    else:
        colour = f"dominant hue {match.dominant_hue:.0f}° (recipe {recipe.hue:.0f}° ± {recipe.hue_spread:.0f}°)"
    low, high = recipe.brightness
    score = int(match.colour_ok) + int(match.brightness_ok)
    return (f"recipe match {score}/2: {colour} {'✓' if match.colour_ok else '✗'}, brightness "
            f"{match.brightness:.2f} (recipe {low:.2f}–{high:.2f}) {'✓' if match.brightness_ok else '✗'}")


class ClassVisualisationPanel:
    """Task and class dropdowns, a render button, the class image and its recipe match (``widget``)."""

    def __init__(self, model: nn.Module, settings: RenderSettings, display_width: int = 192):
        self.outputs = TaskOutputs(model)
        self.settings = settings
        self.model = model
        self._images: dict[tuple[str, int], torch.Tensor] = {}
        names = list(model_tasks(model))
        self.task = widgets.Dropdown(options=names, value=names[-1], description="class of")
        self.target = widgets.Dropdown(description="class")
        self.button = widgets.Button(description="render", tooltip="render the image that maximises this class")
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=f"{display_width}px", height="auto",
                                                                      align_self="flex-start", display="none"))
        self.match = widgets.HTML()
        self.match.add_class("aelab-class-match")
        self.task.observe(self._classes, names="value")
        self.target.observe(self._show, names="value")
        self.button.on_click(lambda button: self.show_rendered())
        self._classes()
        self.widget = widgets.VBox([widgets.HBox([self.task, self.target, self.button]),
                                    widgets.HBox([self.image, self.match])])
        self.widget.add_class("aelab-class-visualisation")

    def class_image(self, task: str, target: int) -> torch.Tensor:
        """The class image ``(3, size, size)`` in [0, 1] of ``task``'s class ``target``, rendered on first use."""
        key = (task, target)
        if key not in self._images:
            self._images[key] = render(self.outputs, logit(task, [target]), self.settings, indices=[target])[0]
        return self._images[key]

    def show_rendered(self) -> None:
        """Render (or take from the cache) the chosen class's image and show it with its recipe match."""
        task, target = self.task.value, self.target.value
        image = self.class_image(task, target)
        self.image.value = image_png(image)
        self.image.layout.display = None
        name = class_names(self.model, task)[target]
        self.match.value = html.escape(f"{task} = {name}: {recipe_match(task, name, image)}", quote=False)

    def _classes(self, change=None) -> None:
        names = class_names(self.model, self.task.value)
        self.target.options = [(name, index) for index, name in enumerate(names)]
        self.target.index = 0  # a new task starts on its first class (new options alone leave no value)
        self._show()

    def _show(self, change=None) -> None:
        if (self.task.value, self.target.value) in self._images:
            self.show_rendered()
        else:
            self.image.value = b""
            self.image.layout.display = "none"
            self.match.value = html.escape(NOT_RENDERED, quote=False)
