"""The explorer's ipywidgets layout: its controls, the input image with each task's predicted class, the atlas
progress bar, the panels with their numbers, the upload button and the class-visualisation control.

Stable CSS class names (for people's stylesheets and the browser tests): ``aelab-explorer`` (the whole view),
``aelab-explorer-input`` (the input image), ``aelab-explorer-predicted``, ``aelab-explorer-numbers``,
``aelab-explorer-progress``, ``aelab-explorer-output`` (the figure), ``aelab-class-visualisation``.
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import TYPE_CHECKING

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from aelab.errors import AelabError
from aelab.tasks import get_task
from aelab.viz.class_visualisation import class_settings
from aelab.viz.render import layer_channels
from aelab.widgets.explorer_class_view import ClassVisualisationPanel
from aelab.widgets.explorer_numbers import PanelNumbers, image_png

if TYPE_CHECKING:
    from aelab.widgets.explorer import Explorer

INPUT_DISPLAY_WIDTH = 192
"""Pixels the input image is shown at (the network's input is smaller; the browser scales it up)."""


def picture_layout(width: int = INPUT_DISPLAY_WIDTH) -> widgets.Layout:
    """A picture ``width`` pixels wide at its own aspect ratio (a row of widgets would otherwise stretch it)."""
    return widgets.Layout(width=f"{width}px", height="auto", align_self="flex-start")


def explorer_controls(explorer: Explorer) -> dict[str, widgets.Widget]:
    """Layer, channel, image, group count, task and class, starting on the deepest probe layer."""
    names = [t.name for t in explorer.tasks]
    branch = explorer.layers[-1].partition(".")[0]  # start on the task whose branch holds the default layer
    task = widgets.Dropdown(options=names, value=branch if branch in names else names[0], description="task")
    return {
        "layer": widgets.Dropdown(options=explorer.layers, value=explorer.layers[-1], description="layer"),
        "channel": widgets.IntSlider(0, 0, 1023, description="channel"),
        "image": widgets.IntSlider(0, 0, len(explorer.images) - 1, description="image"),
        "groups": widgets.IntSlider(2, 1, 6, description="groups"),
        "task": task,
        "target": widgets.Dropdown(options=[(n, i) for i, n in enumerate(get_task(task.value).classes)],
                                   description="class"),
    }


def predicted_html(image_name: str, numbers: PanelNumbers) -> str:
    """The image's name and one line per task: its predicted class and probability."""
    lines = "".join(f"<li><b>{html.escape(task)}</b>: {html.escape(text)}</li>"
                    for task, text in numbers.predicted.items())
    return f"<b>{html.escape(image_name)}</b> — predicted:<ul>{lines}</ul>"


def numbers_html(numbers: PanelNumbers) -> str:
    """One line per panel: its name and its number."""
    return "<ul>" + "".join(f"<li><b>{html.escape(panel)}</b>: {html.escape(text)}</li>"
                            for panel, text in numbers.panels().items()) + "</ul>"


def class_visualisation_view(explorer: Explorer) -> widgets.Widget:
    """The class-visualisation control, or a line saying why the model has none."""
    side = int(explorer.config["image_size"])  # the whole network needs at least its input size
    settings = class_settings(replace(explorer.settings, size=max(explorer.settings.size, side)))
    try:
        return ClassVisualisationPanel(explorer.model, settings).widget
    except AelabError as error:
        return widgets.HTML(html.escape(f"no class visualisation: {error}"))


def upload_controls(explorer: Explorer, image: widgets.IntSlider) -> tuple[widgets.FileUpload, widgets.HTML]:
    """An upload button whose files join the images (the slider moves to the first) and a line naming the
    files that could not be read."""
    upload = widgets.FileUpload(accept="image/*", multiple=True, description="your photos")
    notice = widgets.HTML("<br>".join(html.escape(line) for line in explorer.skipped))

    def uploaded(change) -> None:
        added = explorer.add_uploads(change["new"])
        image.max = len(explorer.images) - 1
        notice.value = "<br>".join(html.escape(line) for line in explorer.skipped)
        if added:
            image.value = added[0]

    upload.observe(uploaded, names="value")
    return upload, notice


def explorer_widget(explorer: Explorer) -> widgets.VBox:
    """The interactive explorer: changing any control redraws the input image, its predictions, the panels and
    their numbers; the first visit of a layer shows the atlas progress bar."""
    controls = explorer_controls(explorer)
    output = widgets.Output()
    picture = widgets.Image(format="png", layout=picture_layout())
    predicted, numbers = widgets.HTML(), widgets.HTML()
    for widget, name in ((picture, "input"), (predicted, "predicted"), (numbers, "numbers"),
                         (output, "output")):
        widget.add_class(f"aelab-explorer-{name}")

    def classes(change=None) -> None:
        names = get_task(controls["task"].value).classes
        controls["target"].options = [(name, index) for index, name in enumerate(names)]

    def redraw(change=None) -> None:
        with output:
            output.clear_output(wait=True)
            panels = explorer.panels(**{name: control.value for name, control in controls.items()})
            picture.value = image_png(panels.image.pixels)
            predicted.value = predicted_html(panels.image.name, panels.numbers)
            numbers.value = numbers_html(panels.numbers)
            figure = explorer.draw(panels)
            display(figure)  # this figure only: plt.show() would also draw any other open figure
            plt.close(figure)

    def channels(change=None) -> None:
        controls["channel"].max = layer_channels(explorer.model, controls["layer"].value) - 1

    controls["task"].observe(classes, names="value")
    controls["layer"].observe(channels, names="value")
    classes()
    channels()
    for control in controls.values():
        control.observe(redraw, names="value")
    explorer.upload, notice = upload_controls(explorer, controls["image"])
    redraw()
    row = list(controls.values())
    view = widgets.VBox([widgets.HBox(row[:3]), widgets.HBox(row[3:]), widgets.HBox([explorer.upload, notice]),
                         explorer.progress, widgets.HBox([picture, widgets.VBox([predicted, numbers])]), output,
                         class_visualisation_view(explorer)])
    view.add_class("aelab-explorer")
    return view
