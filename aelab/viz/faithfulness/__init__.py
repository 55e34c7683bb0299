"""Faithfulness checks: numbers that say whether a picture recovered what SynthAE planted (hue families, smooth vs
granular valence, the subject's place), each with its chance level or control and a verdict, for figure titles.

:data:`CHECKS` names each check; every entry is called ``check(model, data, settings, **options)`` with the model
(carrying its input normalisation, as :func:`aelab.load_run` gives it), held-out SynthAE images
(:func:`held_out`) and the render settings. :func:`run_checks` runs them on a trained run.

- ``class_visualisation`` — :mod:`.class_check` (each emotion's class image against its recipe);
- ``group_smoothness`` — :mod:`.groups_check` (paper 004 Fig. 8 as a number, eqs. 4–5);
- ``spatial_grid`` — :mod:`.spatial_check` (eq. 3 cells over the subject against the background);
- ``atlas_diversity`` — :mod:`.atlas_check` (channel images against a randomly initialised copy's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from aelab.errors import UnknownNameError
from aelab.load import LoadedRun, load_run
from aelab.viz.class_visualisation import class_settings
from aelab.viz.faithfulness.atlas_check import AtlasDiversity, atlas_diversity, diversity, random_copy
from aelab.viz.faithfulness.class_check import (ClassVisualisationCheck, check_class_images, class_visualisation_check,
                                                class_visualisation_figure)
from aelab.viz.faithfulness.data import HeldOut, held_out
from aelab.viz.faithfulness.groups_check import GroupSmoothness, group_smoothness, group_smoothness_figure
from aelab.viz.faithfulness.result import CheckResult
from aelab.viz.faithfulness.spatial_check import (SpatialContrast, middle_layers, spatial_contrast,
                                                  spatial_contrast_figure)
from aelab.viz.render_settings import RenderSettings

__all__ = ["CHECKS", "AtlasDiversity", "CheckResult", "ClassVisualisationCheck", "GroupSmoothness", "HeldOut",
           "SpatialContrast", "atlas_diversity", "check_class_images", "class_visualisation_check",
           "class_visualisation_figure", "diversity",
           "group_smoothness", "group_smoothness_figure", "held_out", "middle_layers", "random_copy", "run_checks",
           "spatial_contrast", "spatial_contrast_figure"]

Check = Callable[..., CheckResult]


def _class_visualisation(model: nn.Module, data: HeldOut, settings: RenderSettings, **options: Any) -> CheckResult:
    return class_visualisation_check(model, settings, **options)


def _group_smoothness(model: nn.Module, data: HeldOut, settings: RenderSettings, **options: Any) -> CheckResult:
    return group_smoothness(model, data, settings=settings, **options)


def _spatial_grid(model: nn.Module, data: HeldOut, settings: RenderSettings, **options: Any) -> CheckResult:
    return spatial_contrast(model, data, settings=settings, **options)


def _atlas_diversity(model: nn.Module, data: HeldOut, settings: RenderSettings, layer: str | None = None,
                     **options: Any) -> CheckResult:
    return atlas_diversity(model, layer or middle_layers(model)[0], settings=settings, **options)


CHECKS: dict[str, Check] = {
    "class_visualisation": _class_visualisation,
    "group_smoothness": _group_smoothness,
    "spatial_grid": _spatial_grid,
    "atlas_diversity": _atlas_diversity,
}


DEFAULT_SETTINGS: dict[str, Callable[[RenderSettings], RenderSettings]] = {"class_visualisation": class_settings}
"""How a check changes :func:`run_checks`' default settings: class images start from their best flat colour with
its best speckle (:data:`aelab.viz.class_visualisation.CLASS_START`)."""


def run_checks(run: str | Path | LoadedRun, names: Iterable[str] | None = None, n: int = 200,
               settings: RenderSettings | None = None,
               options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, CheckResult]:
    """The checks ``names`` (default all of :data:`CHECKS`) on a trained SynthAE run and ``n`` of its held-out
    images; ``settings`` default to the run's own image size, adjusted per check by :data:`DEFAULT_SETTINGS`
    (given settings are used as they are by every check); ``options[name]`` are passed to that check. The group
    check's optimised images start from :data:`aelab.viz.groups.GROUP_START` whatever the settings say, its atlases
    from ``settings.start`` (``options={"group_smoothness": {"group_start": None}}``: from ``settings.start`` too)."""
    names = list(CHECKS) if names is None else list(names)
    for name in names:
        if name not in CHECKS:
            raise UnknownNameError("faithfulness check", name, list(CHECKS))
    loaded = load_run(run)
    data = held_out(loaded, n)
    given = settings
    settings = settings or RenderSettings(size=int(loaded.config["image_size"]))
    options = options or {}
    return {name: CHECKS[name](loaded.model, data, given or DEFAULT_SETTINGS.get(name, lambda s: s)(settings),
                               **options.get(name, {})) for name in names}
