"""Where activation maximisation starts (``RenderSettings.start``; docs/science.md §6): a registry of starting
points.

* ``"random"`` — the parameterisation's own draw: Lucid's faint noise around grey for a Fourier image, paper 004's
  N(0, 1) pixels for a pixel image.
* ``"best_colour"`` — the flat colour that scores highest on the image's own objective, out of :data:`COLOUR_GRID`
  (24 hues × 4 saturations × 5 brightnesses, and 5 greys), with the parameterisation's draw on top for detail.

Why a colour start: an image's global colour is three numbers that gradient ascent moves slowly (Adam moves a
Fourier image's mean by about lr / 4 per step before the sigmoid) and through local optima. A class logit of a
network trained on colour recipes can rise both ways from mid-grey: on a greyish purple (saturation 0.15) the
SynthAE reference's fear logit is −3.3 at brightness 0.5, −2.1 at 0.8 and +1.9 at 0.2, so from grey the ascent
climbs to the nearer, lighter side and the class image comes out pale where its class is dark. Searching the three
global numbers on a grid and leaving the rest to gradient ascent finds the better side: a search on the one
low-dimensional part of the image where search is cheap. Its cost is one forward pass of the 485 flat images per
render (:class:`FlatColourSearch` scores every image of the render on them at once), about as much as a 64-step
render of one image on a CPU.
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


def _colour_grid() -> torch.Tensor:
    coloured = [(h / 360.0, s, v) for h in HUES for s in SATURATIONS for v in BRIGHTNESSES]
    greys = [(0.0, 0.0, v) for v in BRIGHTNESSES]
    return torch.as_tensor(hsv_to_rgb(np.array(coloured + greys)), dtype=torch.float32)


COLOUR_GRID: torch.Tensor = _colour_grid()
"""(485, 3) RGB colours in [0, 1] that ``"best_colour"`` chooses from: every hue at every saturation and
brightness of the grid, then the greys at those brightnesses."""

Start = Callable[["FourierImage | PixelImage", torch.Tensor], None]
"""Sets the initial values of one batch's images in place, given their rows in the render's objective."""


def _keep_draw(image: FourierImage | PixelImage, rows: torch.Tensor) -> None:
    """Keep the parameterisation's own draw."""


class FlatColourSearch:
    """The ``"best_colour"`` start of one render: every term of ``objective`` scores the flat images of ``grid`` at
    ``size`` px, probed in chunks of ``chunk`` images (the render's own batch size, so the search needs no more
    memory than a batch; only the scores are kept), once for the whole render; each batch then takes its rows'
    colours."""

    def __init__(self, probe: LayerProbe, objective: Objective, size: int, device: torch.device, chunk: int,
                 grid: torch.Tensor = COLOUR_GRID):
        self.probe, self.objective, self.size, self.device = probe, objective, size, device
        self.chunk, self.grid = max(1, chunk), grid
        self._colours: torch.Tensor | None = None

    @torch.no_grad()
    def colours(self) -> torch.Tensor:
        """``(N, 3)``: for each of the objective's N images the grid colour whose flat image scores highest on that
        image's term (ties: the first in grid order); computed on first use."""
        if self._colours is None:
            scores = []
            for start in range(0, len(self.grid), self.chunk):
                colours = self.grid[start:start + self.chunk]
                activation = self.probe(colours[:, :, None, None].expand(-1, -1, self.size, self.size)
                                        .to(self.device))
                scores.append(torch.stack([self.objective[[term] * len(colours)](activation).float().cpu()
                                           for term in range(self.objective.batch_size)]))
            self._colours = self.grid[torch.cat(scores, dim=1).argmax(dim=1)]
        return self._colours

    def __call__(self, image: FourierImage | PixelImage, rows: torch.Tensor) -> None:
        image.set_mean_colour(self.colours()[rows.cpu()].to(self.device))


STARTS: dict[str, Callable[[LayerProbe, Objective, int, torch.device, int], Start]] = {
    "random": lambda probe, objective, size, device, chunk: _keep_draw,
    "best_colour": FlatColourSearch,
}
"""Name → ``factory(probe, objective, size, device, chunk)`` giving the :data:`Start` of one render of
``objective`` (made once per render; each batch calls it with its rows)."""
