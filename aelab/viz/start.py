"""Where activation maximisation starts (``RenderSettings.start``; docs/science.md §6): a registry of starting
points.

* ``"random"`` — the parameterisation's own draw: Lucid's faint noise around grey for a Fourier image, paper 004's
  N(0, 1) pixels for a pixel image.
* ``"best_colour"`` — the flat colour that scores highest on the image's own objective, out of :data:`COLOUR_GRID`
  (24 hues × 4 saturations × 5 brightnesses, and 5 greys), with the parameterisation's draw on top for detail.
* ``"best_colour_grain"`` — that colour, then the per-pixel colour speckle (of :data:`GRAINS`) the objective scores
  highest on it: the flat colour itself when no speckle scores higher.

Why a colour start: an image's global colour is three numbers that gradient ascent moves slowly (Adam moves a
Fourier image's mean by about lr / 4 per step before the sigmoid) and through local optima. A class logit of a
network trained on colour recipes can rise both ways from mid-grey: on a greyish purple (saturation 0.15) the
SynthAE reference's fear logit is −3.3 at brightness 0.5, −2.1 at 0.8 and +1.9 at 0.2, so from grey the ascent
climbs to the nearer, lighter side and the class image comes out pale where its class is dark. Searching the three
global numbers on a grid and leaving the rest to gradient ascent finds the better side: a search on the one
low-dimensional part of the image where search is cheap. Its cost is one forward pass of the 485 flat images per
render (:class:`FlatColourSearch` scores every image of the render on them at once), about as much as a 64-step
render of one image on a CPU.

Why a speckle: fine grain is the other global property that gradient ascent barely reaches. The Fourier
parameterisation scales each frequency by 1/f, so at 64 px a step moves a pixel-scale speckle 30 to 45 times less
than the mean colour, and the random transforms blur what little grows. Yet a network trained on granular and
smooth textures answers to it: on its best flat colour (64 px), the SynthAE reference's fear logit is 3.4 flat and
6.5 with a speckle of sd 0.08, its amusement logit 5.0 flat and 0.8 speckled. Trying a few speckle strengths on
the chosen colour costs one forward pass of ``len(GRAINS)`` images per image of the render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.colors import hsv_to_rgb

from aelab.viz.objectives import Objective
from aelab.viz.parameterization import COLOUR_MARGIN
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


GRAINS = (0.0, 0.04, 0.08, 0.12)
"""Standard deviations of the per-pixel colour speckle that ``"best_colour_grain"`` tries on each image's colour
(0 first, so a tie keeps the flat colour). SynthAE's granular recipes speckle with sd 0.05–0.16 in grains of 1/64
of the side, so these levels match them at 64 px, the size its networks see; at a larger render size the speckle
is finer than SynthAE's."""

GRAIN_SEED = 0
"""Seed of the one speckle field (:func:`grain_field`) every grainy start uses."""


def grain_field(size: int) -> torch.Tensor:
    """``(3, size, size)`` independent N(0, 1) values per pixel and colour channel, from a generator seeded with
    :data:`GRAIN_SEED`: the same speckle for every image and every render (``RenderSettings.seed`` does not change
    it, only the random transforms), so an image starts the same alone or in a batch, and the start is the very
    image its score was measured on."""
    return torch.randn(3, size, size, generator=torch.Generator().manual_seed(GRAIN_SEED))


class FlatColourGrainSearch(FlatColourSearch):
    """The ``"best_colour_grain"`` start: :class:`FlatColourSearch`'s colour, then, on that colour, the speckle of
    :data:`GRAINS` that the image's term scores highest (colour + sd × :func:`grain_field`, kept inside (0, 1)). An
    image whose best speckle is 0 starts exactly as with ``"best_colour"``; a grainy one starts from the speckled
    colour itself (it replaces the parameterisation's draw)."""

    def __init__(self, probe: LayerProbe, objective: Objective, size: int, device: torch.device, chunk: int,
                 grid: torch.Tensor = COLOUR_GRID, grains: tuple[float, ...] = GRAINS) -> None:
        super().__init__(probe, objective, size, device, chunk, grid)
        self.grains = torch.as_tensor(grains, dtype=torch.float32)
        self.field = grain_field(size)
        self._grains: torch.Tensor | None = None

    def speckled(self, colours: torch.Tensor, grains: torch.Tensor) -> torch.Tensor:
        """``(n, 3, size, size)``: flat ``colours`` (n, 3) with the speckle field at sd ``grains`` (n,), kept as far
        inside (0, 1) as a parameterisation can show (:data:`~aelab.viz.parameterization.COLOUR_MARGIN`)."""
        speckled = colours[:, :, None, None] + grains[:, None, None, None] * self.field
        return speckled.clamp(COLOUR_MARGIN, 1.0 - COLOUR_MARGIN)

    @torch.no_grad()
    def grain_levels(self) -> torch.Tensor:
        """``(N,)``: each image's best speckle sd on its :meth:`colours` (computed on first use, in chunks)."""
        if self._grains is None:
            colours, levels = self.colours(), len(self.grains)
            terms = torch.arange(len(colours)).repeat_interleave(levels)
            grains = self.grains.repeat(len(colours))
            scores = []
            for start in range(0, len(terms), self.chunk):
                part = slice(start, start + self.chunk)
                activation = self.probe(self.speckled(colours[terms[part]], grains[part]).to(self.device))
                scores.append(self.objective[terms[part].tolist()](activation).float().cpu())
            self._grains = self.grains[torch.cat(scores).view(len(colours), levels).argmax(dim=1)]
        return self._grains

    def __call__(self, image: FourierImage | PixelImage, rows: torch.Tensor) -> None:
        super().__call__(image, rows)
        grains = self.grain_levels()[rows.cpu()]
        grainy = grains > 0
        if grainy.any():
            pictures = self.speckled(self.colours()[rows.cpu()][grainy], grains[grainy])
            image.set_images(pictures.to(self.device), grainy.to(self.device))


STARTS: dict[str, Callable[[LayerProbe, Objective, int, torch.device, int], Start]] = {
    "random": lambda probe, objective, size, device, chunk: _keep_draw,
    "best_colour": FlatColourSearch,
    "best_colour_grain": FlatColourGrainSearch,
}
"""Name → ``factory(probe, objective, size, device, chunk)`` giving the :data:`Start` of one render of
``objective`` (made once per render; each batch calls it with its rows)."""
