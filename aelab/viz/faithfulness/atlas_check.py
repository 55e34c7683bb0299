"""Check 6: a layer's channel images (its atlas, :mod:`aelab.viz.atlas`) differ from each other more than those of a
randomly initialised copy of the network (Olah et al. 2017: a trained layer's channels detect different things).

Diversity is the mean pairwise distance between the channel images after each is averaged down to
``POOL × POOL`` cells (area averaging): the RMS difference of their colour layouts. Pixel-level noise, which every
untrained channel image has and which would make any two of them differ, is averaged out; what remains is which
colours go where. Control: the same channels of the same layer rendered with the same settings from a copy of the
network whose every module with ``reset_parameters`` (convolutions, linear layers, batch norm) is drawn anew under
``seed``. Passes when the diversity is above the control's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from aelab.errors import ConfigError
from aelab.viz.faithfulness.result import CheckResult
from aelab.viz.objectives import channel
from aelab.viz.render import layer_channels, render
from aelab.viz.render_settings import RenderSettings

POOL = 8


def diversity(images: torch.Tensor, pool: int = POOL) -> float:
    """Mean pairwise RMS distance between images ``(N, 3, H, W)`` averaged down to ``pool × pool`` (N ≥ 2)."""
    if images.dim() != 4 or len(images) < 2:
        raise ConfigError("atlas images", tuple(images.shape), "(N, 3, H, W) with at least 2 channel images")
    layouts = F.adaptive_avg_pool2d(images.detach().float().cpu(), min(pool, *images.shape[-2:])).flatten(1)
    distance = torch.cdist(layouts, layouts) / layouts.shape[1] ** 0.5
    count = len(images)
    return float(distance.sum() / (count * (count - 1)))


def random_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` (same architecture and input normalisation) with freshly initialised parameters and
    batch-norm statistics, drawn under ``seed`` without touching the global random state."""
    twin = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in twin.modules():
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
    return twin


@dataclass
class AtlasDiversity(CheckResult):
    """:class:`CheckResult` of check 6: ``value`` the layer's diversity, ``chance`` the random copy's."""

    layer: str = ""
    channels: int = 0


def atlas_diversity(model: nn.Module, layer: str, *, settings: RenderSettings = RenderSettings(),
                    channels: Sequence[int] | None = None, atlas: torch.Tensor | None = None, seed: int = 0,
                    cache_dir: str | Path | None = None) -> AtlasDiversity:
    """Check 6 (see the module docstring) on ``channels`` of ``layer`` (default all). ``atlas``: the model's
    channel images of those channels when already rendered (else they are, cached in ``cache_dir`` when given)."""
    channels = list(range(layer_channels(model, layer, settings.size))) if channels is None else list(channels)
    if atlas is None:
        if cache_dir is not None:
            from aelab.viz.atlas import layer_atlas

            atlas = layer_atlas(model, layer, settings, cache_dir, progress=False)[channels]
        else:
            atlas = render(model, channel(layer, channels), settings, indices=channels)
    control = render(random_copy(model, seed), channel(layer, channels), settings, indices=channels)
    value, chance = diversity(atlas), diversity(control)
    return AtlasDiversity(name=f"atlas diversity, layer {layer}", value=value, chance=chance,
                          criterion="above a randomly initialised copy's", passed=value > chance, layer=layer,
                          channels=len(channels))
