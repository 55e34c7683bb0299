"""Where activation maximisation starts (``RenderSettings.start``): a registry of starting points.

* ``"random"`` — the parameterisation's own draw: Lucid's faint noise around grey for a Fourier image, paper 004's
  N(0, 1) pixels for a pixel image.
* ``"best_colour"`` — the flat colour that scores highest on the image's own objective, out of a fixed grid of
  :data:`COLOUR_GRID` (24 hues × 4 saturations × 5 brightnesses), with the parameterisation's draw on top for detail.

Why a colour start: an image's global colour is three numbers that gradient ascent moves slowly (Adam moves a
Fourier image's mean by about lr / 4 per step before the sigmoid) and through local optima. A class logit of a
network trained on colour recipes can rise both ways from mid-grey: on a greyish purple (saturation 0.15) the
SynthAE reference's fear logit is −3.3 at brightness 0.5, −2.1 at 0.8 and +1.9 at 0.2, so from grey the ascent
climbs to the nearer, lighter side and the class image comes out pale where its class is dark. Searching the three
global numbers on a grid and leaving the rest to gradient ascent finds the better side: a search on the one
low-dimensional part of the image where search is cheap (one forward pass of 480 flat images per batch of images
rendered).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.colors import hsv_to_rgb

from aelab.viz.objectives import Objective
from aelab.viz.probe import LayerProbe

if TYPE_CHECKING:
    from aelab.viz.parameterization import FourierImage, PixelImage

HUES = tuple(range(0, 360, 15))
SATURATIONS = (0.1, 0.35, 0.6, 0.85)
BRIGHTNESSES = (0.15, 0.35, 0.55, 0.75, 0.92)
GRID_CHUNK = 64  # flat images per forward pass


def _colour_grid() -> torch.Tensor:
    hsv = np.array([(h / 360.0, s, v) for h in HUES for s in SATURATIONS for v in BRIGHTNESSES])
    return torch.as_tensor(hsv_to_rgb(hsv), dtype=torch.float32)


COLOUR_GRID: torch.Tensor = _colour_grid()
"""(480, 3) RGB colours in [0, 1] that ``"best_colour"`` chooses from."""


@torch.no_grad()
def best_flat_colours(probe: LayerProbe, objective: Objective, size: int, device: torch.device,
                      grid: torch.Tensor = COLOUR_GRID) -> torch.Tensor:
    """``(B, 3)``: for each of the objective's B images, the colour of ``grid`` whose flat ``size`` px image
    scores highest on that image's term (ties: the first in grid order). The layer is probed once per chunk of
    flat images; every term then scores the same activations."""
    count = objective.batch_size
    scores = []
    for start in range(0, len(grid), GRID_CHUNK):
        colours = grid[start:start + GRID_CHUNK]
        flat = colours[:, :, None, None].expand(-1, -1, size, size).to(device)
        activation = probe(flat)
        scores.append(torch.stack([objective[[term] * len(colours)](activation) for term in range(count)]))
    return grid[torch.cat(scores, dim=1).argmax(dim=1).cpu()]


def _random(image: FourierImage | PixelImage, probe: LayerProbe, objective: Objective, size: int,
            device: torch.device) -> None:
    """Keep the parameterisation's own draw."""


def _best_colour(image: FourierImage | PixelImage, probe: LayerProbe, objective: Objective, size: int,
                 device: torch.device) -> None:
    """Shift each image's mean colour to its best flat colour (:func:`best_flat_colours`)."""
    image.set_mean_colour(best_flat_colours(probe, objective, size, device).to(device))


STARTS: dict[str, Callable[..., None]] = {"random": _random, "best_colour": _best_colour}
"""Name → ``start(image, probe, objective, size, device)``, which sets the images' initial values in place."""
