"""Check 1: class visualisations recover each emotion's SynthAE recipe (Simonyan et al. 2014 class images, judged
against :data:`aelab.data.synthetic.recipes.RECIPES`).

For each of the 8 emotions the image that maximises the class's logit (:mod:`aelab.viz.class_visualisation`,
started from the flat colour the logit scores highest, with the speckle it scores highest, unless the settings say
otherwise) *matches its recipe* when its brightness (:func:`~aelab.viz.faithfulness.colour.brightness`) lies in
the recipe's brightness range and

* for a coloured recipe, its saturation-weighted dominant hue (:func:`~aelab.viz.faithfulness.colour.dominant_hue`)
  lies in the recipe's hue family ``hue ± hue_spread``;
* for a grey recipe (saturation range below :data:`GREY_SATURATION`: sadness), its mean saturation is at most the
  top of the recipe's saturation range.

Value: the number of matching classes. Chance: the expected number for images of uniformly random hue, saturation
and brightness — per class ``(2·hue_spread / 360) × brightness width`` (coloured) or ``saturation top × brightness
width`` (grey). The check passes when all 8 classes match **and** the positive emotions' images are smoother (lower
mean roughness, :func:`aelab.viz.readability.roughness`) than the negative ones' (SynthAE plants smooth positive
and granular negative textures). With the default start that half mostly reads which speckle each logit chose
(gradient ascent adds little grain, :mod:`aelab.viz.start`): the class images' roughness follows the start's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from matplotlib.figure import Figure
from torch import nn

from aelab.data.synthetic.recipes import RECIPES, Recipe
from aelab.errors import ConfigError
from aelab.tasks import EMOTIONS, get_task, is_positive
from aelab.viz.class_visualisation import class_settings, class_visualisations
from aelab.viz.faithfulness.colour import brightness, dominant_hue, hue_distance, mean_saturation
from aelab.viz.faithfulness.result import CheckResult
from aelab.viz.readability import roughness
from aelab.viz.render_settings import RenderSettings

GREY_SATURATION = 0.35
"""A recipe whose saturation range lies below this is judged by low saturation, not by hue."""


def is_grey(recipe: Recipe) -> bool:
    """Whether a recipe is judged by low saturation (its colours are too grey for a hue to mean anything)."""
    return recipe.saturation[1] < GREY_SATURATION


def chance_of_match(recipe: Recipe) -> float:
    """Probability that an image of uniformly random hue, saturation and brightness matches ``recipe``."""
    colour = recipe.saturation[1] if is_grey(recipe) else 2 * recipe.hue_spread / 360
    return colour * (recipe.brightness[1] - recipe.brightness[0])


@dataclass
class ClassMatch:
    """One emotion's class image against its recipe."""

    emotion: str
    dominant_hue: float
    saturation: float
    brightness: float
    roughness: float
    colour_ok: bool
    brightness_ok: bool

    @property
    def matched(self) -> bool:
        return self.colour_ok and self.brightness_ok


@dataclass
class ClassVisualisationCheck(CheckResult):
    """:class:`CheckResult` of check 1 with each class's measures and the valence roughness comparison."""

    classes: list[ClassMatch] = field(default_factory=list)
    positive_roughness: float = float("nan")
    negative_roughness: float = float("nan")

    def describe(self) -> str:
        smoother = self.positive_roughness < self.negative_roughness
        return (f"class visualisation: {self.value:g}/8 emotions match their recipe (chance {self.chance:.2f}); "
                f"roughness positive {self.positive_roughness:.3f} vs negative {self.negative_roughness:.3f}"
                f"{'' if smoother else ' (not smoother)'} — {'pass' if self.passed else 'FAIL'}")


def match_recipe(emotion: str, image: torch.Tensor) -> ClassMatch:
    """Measure one class image ``(3, H, W)`` in [0, 1] against the recipe of ``emotion``."""
    recipe = RECIPES[emotion]
    hue = float(dominant_hue(image)[0])
    saturation, bright = float(mean_saturation(image)[0]), float(brightness(image)[0])
    if is_grey(recipe):
        colour_ok = saturation <= recipe.saturation[1]
    else:
        colour_ok = hue == hue and float(hue_distance(hue, recipe.hue)) <= recipe.hue_spread
    return ClassMatch(emotion, hue, saturation, bright, float(roughness(image)[0]), bool(colour_ok),
                      recipe.brightness[0] <= bright <= recipe.brightness[1])


def check_class_images(images: torch.Tensor) -> ClassVisualisationCheck:
    """Check 1 on given class images ``(8, 3, H, W)`` in FI emotion order (see the module docstring)."""
    if images.dim() != 4 or images.shape[:2] != (len(EMOTIONS), 3):
        raise ConfigError("class images", tuple(images.shape), f"({len(EMOTIONS)}, 3, H, W): one per emotion")
    matches = [match_recipe(name, image) for name, image in zip(EMOTIONS, images)]
    positive = [m.roughness for i, m in enumerate(matches) if is_positive(i)]
    negative = [m.roughness for i, m in enumerate(matches) if not is_positive(i)]
    pos, neg = sum(positive) / len(positive), sum(negative) / len(negative)
    count = sum(m.matched for m in matches)
    return ClassVisualisationCheck(
        name="class visualisation", value=float(count), chance=sum(chance_of_match(RECIPES[e]) for e in EMOTIONS),
        criterion="all 8 match and positive smoother", passed=count == len(EMOTIONS) and pos < neg,
        classes=matches, positive_roughness=pos, negative_roughness=neg)


def class_visualisation_check(model: nn.Module, settings: RenderSettings | None = None, task: str = "emotion",
                              ) -> ClassVisualisationCheck:
    """Render one image per emotion maximising its logit of head ``task`` and check it (module docstring).
    ``settings``: default the class images' own (:func:`~aelab.viz.class_visualisation.class_settings`)."""
    return check_class_images(class_visualisations(model, [task], settings or class_settings())[task])


def class_caption(task: str, index: int, result: ClassVisualisationCheck | None = None) -> str:
    """A class image's title: the task and class, and for an emotion judged by ``result`` whether the image
    matches its recipe (SynthAE plants a recipe per emotion only; other tasks' classes have none to match)."""
    name = (get_task(task).classes or (task,))[index]
    if task != "emotion" or result is None or index >= len(result.classes):
        return f"{task}: {name}\n(no colour recipe)"
    match = result.classes[index]
    return f"{task}: {name}\n{'matches' if match.matched else 'misses'} its recipe"


def class_visualisation_figure(images: Mapping[str, torch.Tensor], result: ClassVisualisationCheck | None = None,
                               inches: float = 1.5) -> Figure:
    """One row per task of ``images`` (``{task: (K, 3, H, W)}``, as
    :func:`aelab.viz.class_visualisation.class_visualisations` returns them), one class image a column, each titled
    by :func:`class_caption`; the figure's title is ``result``'s line (:meth:`ClassVisualisationCheck.describe`)."""
    import matplotlib.pyplot as plt

    if not images:
        raise ConfigError("class images", "{}", "at least one task's class images")
    columns = max(len(batch) for batch in images.values())
    figure, axes = plt.subplots(len(images), columns, figsize=(columns * inches, len(images) * (inches + 0.5)),
                                squeeze=False)
    for row, (task, batch) in zip(axes, images.items()):
        for index, ax in enumerate(row):
            ax.axis("off")
            if index < len(batch):
                ax.imshow(batch[index].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy())
                ax.set_title(class_caption(task, index, result), fontsize=7)
    figure.suptitle(result.describe() if result is not None else "class visualisation (not checked)", fontsize=8)
    figure.tight_layout()
    return figure
