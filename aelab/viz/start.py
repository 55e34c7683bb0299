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
render (:class:`FlatColourSearch` probes them once and scores every batch of the render on the same activations),
about as much as a 64-step render of one image on a CPU.
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

Start = Callable[["FourierImage | PixelImage", Objective], None]
"""Sets the initial values of one batch's images, in place, given the batch's objective."""


def _keep_draw(image: FourierImage | PixelImage, objective: Objective) -> None:
    """Keep the parameterisation's own draw."""


class FlatColourSearch:
    """The ``"best_colour"`` start of one render: the flat images of ``grid`` at ``size`` px are probed once (in
    chunks of ``chunk`` images, the render's own batch size, so the search needs no more memory than a batch),
    and each batch's objective picks its images' colours from those activations."""

    def __init__(self, probe: LayerProbe, size: int, device: torch.device, chunk: int,
                 grid: torch.Tensor = COLOUR_GRID):
        self.probe, self.size, self.device, self.chunk, self.grid = probe, size, device, max(1, chunk), grid
        self._activations: list[torch.Tensor] | None = None

    @torch.no_grad()
    def activations(self) -> list[torch.Tensor]:
        """The probed layer's activation of each chunk of flat images (computed on first use)."""
        if self._activations is None:
            self._activations = []
            for start in range(0, len(self.grid), self.chunk):
                colours = self.grid[start:start + self.chunk]
                flat = colours[:, :, None, None].expand(-1, -1, self.size, self.size).to(self.device)
                self._activations.append(self.probe(flat))
        return self._activations

    @torch.no_grad()
    def best(self, objective: Objective) -> torch.Tensor:
        """``(B, 3)``: for each of the objective's B images the grid colour whose flat image scores highest on
        that image's term (ties: the first in grid order)."""
        scores = torch.cat([torch.stack([objective[[term] * len(activation)](activation)
                                         for term in range(objective.batch_size)])
                            for activation in self.activations()], dim=1)
        return self.grid[scores.argmax(dim=1).cpu()]

    def __call__(self, image: FourierImage | PixelImage, objective: Objective) -> None:
        image.set_mean_colour(self.best(objective).to(self.device))


STARTS: dict[str, Callable[[LayerProbe, int, torch.device, int], Start]] = {
    "random": lambda probe, size, device, chunk: _keep_draw,
    "best_colour": FlatColourSearch,
}
"""Name → ``factory(probe, size, device, chunk)`` giving the render's :data:`Start` (made once per render)."""
