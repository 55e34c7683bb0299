"""Where activation maximisation starts: the flat colour an objective scores highest (``start="best_colour"``)
against the parameterisation's own draw, on hand-wired layers whose best colours are known."""

import pytest
import torch
from torch import nn

import aelab.viz.class_visualisation as class_visualisation
from aelab.data.normalization import IDENTITY_NORMALIZATION
from aelab.errors import ConfigError
from aelab.tasks import TASKS
from aelab.viz.class_visualisation import CLASS_START, class_settings, class_visualisations
from aelab.viz.objectives import channel
from aelab.viz.parameterization import FourierImage, PixelImage
from aelab.viz.probe import LayerProbe
from aelab.viz.render import render
from aelab.viz.render_settings import RenderSettings
from aelab.viz.start import COLOUR_GRID, best_flat_colours

NEAR = torch.tensor([0.6, 0.6, 0.6])  # a low peak next to grey
FAR = torch.tensor([0.15, 0.12, 0.35])  # a higher peak, dark blue-violet, far from grey


class MeanColourScores(nn.Module):
    """Channel k scores the image's mean colour m: ``heights[k] - 8 |m - peaks[k]|²``, and channel 0 is the
    better of two peaks (the near, low one and the far, high one), so ascent from grey climbs the wrong one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean((2, 3))
        near = 1.0 - 8 * (m - NEAR).pow(2).sum(1)
        far = 2.0 - 8 * (m - FAR).pow(2).sum(1)
        only_far = 1.0 - 8 * (m - FAR).pow(2).sum(1)
        only_red = 1.0 - 8 * (m - torch.tensor([0.9, 0.1, 0.1])).pow(2).sum(1)
        return torch.stack([torch.maximum(near, far), only_far, only_red], 1)[:, :, None, None]


class TwoPeaks(nn.Module):
    def __init__(self):
        super().__init__()
        self.normalization = IDENTITY_NORMALIZATION
        self.anchor = nn.Parameter(torch.zeros(1))
        self.scores = MeanColourScores()

    def forward(self, x):
        return self.scores(x) + self.anchor


SETTINGS = RenderSettings(steps=40, size=16, lr=0.1, transforms=False, relu_redirect_steps=0)


def test_best_flat_colours_pick_each_terms_own_best_grid_colour():
    model = TwoPeaks()
    colours = best_flat_colours(LayerProbe(model, "scores", normalize=True), channel("scores", [0, 1, 2]), 8,
                                torch.device("cpu"))
    assert colours.shape == (3, 3)
    for term, target in ((0, FAR), (1, FAR), (2, torch.tensor([0.9, 0.1, 0.1]))):
        nearest = COLOUR_GRID[(COLOUR_GRID - target).pow(2).sum(1).argmin()]
        assert torch.equal(colours[term], nearest)


def test_ascent_from_grey_climbs_the_near_peak_and_the_colour_start_finds_the_far_one(one_thread):
    model = TwoPeaks()
    objective = channel("scores", [0])
    from_grey = render(model, objective, SETTINGS)
    from_colour = render(model, objective, RenderSettings(**{**SETTINGS.__dict__, "start": "best_colour"}))
    grey_mean, colour_mean = from_grey.mean((2, 3))[0], from_colour.mean((2, 3))[0]
    assert (grey_mean - NEAR).abs().max() < 0.08, grey_mean  # stuck on the near, lower peak
    assert (colour_mean - FAR).abs().max() < 0.08, colour_mean
    scores = MeanColourScores()(torch.cat([from_grey, from_colour]))[:, 0, 0, 0]
    assert scores[1] > scores[0] + 0.5


def test_a_colour_started_image_is_the_same_alone_or_in_a_batch(one_thread):
    settings = RenderSettings(**{**SETTINGS.__dict__, "start": "best_colour", "transforms": True})
    together = render(TwoPeaks(), channel("scores", [0, 1, 2]), settings)
    alone = render(TwoPeaks(), channel("scores", [2]), settings, indices=[2])
    assert torch.allclose(together[2], alone[0], atol=1e-6)


@pytest.mark.parametrize("decorrelate", [True, False])
def test_a_fourier_image_takes_the_mean_colour_and_keeps_its_detail(decorrelate):
    image = FourierImage(2, 16, seed=3, sd=0.001, decorrelate=decorrelate)
    before = image.spectrum.detach().clone()
    colours = torch.tensor([[0.2, 0.5, 0.9], [0.85, 0.3, 0.1]])
    image.set_mean_colour(colours)
    assert torch.allclose(image().mean((2, 3)), colours, atol=0.01)
    detail = torch.ones_like(before, dtype=torch.bool)
    detail[:, :, 0, 0, :] = False
    assert torch.equal(image.spectrum.detach()[detail], before[detail])


@pytest.mark.parametrize("output", ["sigmoid", "clamp"])
def test_a_pixel_image_takes_the_mean_colour_before_its_output_mapping(output):
    image = PixelImage(1, 8, seed=0, sd=0.001, output=output)
    image.set_mean_colour(torch.tensor([[0.25, 0.5, 0.8]]))
    assert torch.allclose(image().mean((2, 3)), torch.tensor([[0.25, 0.5, 0.8]]), atol=0.01)


def test_the_start_is_checked_by_name_and_keys_atlases_only_when_not_the_default():
    with pytest.raises(ConfigError, match="RenderSettings.start: got 'grey', expected one of: random, best_colour"):
        RenderSettings(start="grey")
    assert "start" not in RenderSettings().key()  # keys of atlases cached before the field existed stay valid
    assert RenderSettings(start="best_colour").key()["start"] == "best_colour"


class AestheticHead(TwoPeaks):
    """A model with one task head (a binary aesthetic logit: the mean brightness)."""

    tasks = [TASKS["aesthetic"]]

    def forward(self, x):
        return {"aesthetic": x.mean((1, 2, 3)) + self.anchor}


def test_class_images_start_from_their_best_colour_unless_settings_say_otherwise(monkeypatch):
    seen = []

    def record(model, objective, settings, progress=False):
        seen.append(settings.start)
        return torch.zeros(objective.batch_size, 3, 4, 4)

    monkeypatch.setattr(class_visualisation, "render", record)
    class_visualisations(AestheticHead(), ["aesthetic"])
    class_visualisations(AestheticHead(), ["aesthetic"], SETTINGS)
    assert seen == [CLASS_START, "random"] and CLASS_START == "best_colour"
    assert class_settings(SETTINGS).start == CLASS_START and class_settings(SETTINGS).steps == SETTINGS.steps
