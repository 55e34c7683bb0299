"""Where activation maximisation starts: the flat colour an objective scores highest (``start="best_colour"``), with
the speckle it scores highest (``"best_colour_grain"``), against the parameterisation's own draw, on hand-wired
layers whose best colours and grains are known."""

import pytest
import torch
from torch import nn

import aelab.viz.class_visualisation as class_visualisation
from aelab.data.normalization import IDENTITY_NORMALIZATION
from aelab.errors import ConfigError
from aelab.tasks import TASKS
from aelab.viz.class_visualisation import CLASS_START, class_settings, class_visualisations
from aelab.viz.objectives import channel, direction, neuron
from aelab.viz.parameterization import FourierImage, PixelImage
from aelab.viz.probe import LayerProbe
from aelab.viz.render import render
from aelab.viz.render_settings import RenderSettings
from aelab.viz.readability import roughness
from aelab.viz.start import COLOUR_GRID, GRAINS, FlatColourGrainSearch, FlatColourSearch, grain_field

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


def search(model: nn.Module, objective, size: int = 8, chunk: int = 64) -> FlatColourSearch:
    return FlatColourSearch(LayerProbe(model, "scores", normalize=True), objective, size, torch.device("cpu"), chunk)


def test_the_colour_search_picks_each_terms_own_best_grid_colour_and_probes_once(monkeypatch):
    found = search(TwoPeaks(), channel("scores", [0, 1, 2]), chunk=100)
    probed = []
    probe = found.probe
    monkeypatch.setattr(found, "probe", lambda flat: probed.append(len(flat)) or probe(flat))
    colours = found.colours()
    assert colours.shape == (3, 3) and len(COLOUR_GRID) == 485 and probed == [100, 100, 100, 100, 85]
    for term, target in ((0, FAR), (1, FAR), (2, torch.tensor([0.9, 0.1, 0.1]))):
        nearest = COLOUR_GRID[(COLOUR_GRID - target).pow(2).sum(1).argmin()]
        assert torch.equal(colours[term], nearest)
    assert torch.equal(search(TwoPeaks(), channel("scores", [0, 1, 2]), chunk=7).colours(), colours)  # any chunks
    image = FourierImage(2, 8)
    found(image, torch.tensor([2, 0]))  # a batch of the render: its rows' colours, no second probe
    assert probed == [100, 100, 100, 100, 85]
    assert torch.allclose(image().mean((2, 3)), colours[[2, 0]].clamp(0.01, 0.99), atol=0.01)


def test_the_grid_holds_greys_so_an_achromatic_target_gets_a_grey_start():
    class GreyWanted(MeanColourScores):
        def forward(self, x):
            return -(x.mean((2, 3)) - 0.55).pow(2).sum(1)[:, None, None, None]

    model = TwoPeaks()
    model.scores = GreyWanted()
    colour = search(model, channel("scores", [0])).colours()[0]
    assert torch.allclose(colour, torch.full((3,), 0.55))


@pytest.mark.parametrize("objective", [neuron("scores", [0, 2], 0, 0), direction("scores", torch.eye(3)[[0, 2]]),
                                       channel("scores", [0, 2]) + 0.5 * channel("scores", [1, 1])],
                         ids=["neuron", "direction", "weighted sum"])
def test_every_kind_of_objective_starts_from_its_colour_alone_or_in_a_batch(objective, one_thread):
    settings = RenderSettings(**{**SETTINGS.__dict__, "start": "best_colour", "steps": 3})
    together = render(TwoPeaks(), objective, settings)
    alone = render(TwoPeaks(), objective[[1]], settings, indices=[1])
    assert torch.allclose(together[1], alone[0], atol=1e-6)
    best = search(TwoPeaks(), objective, size=settings.size).colours()
    assert torch.allclose(together.mean((2, 3)), best, atol=0.1)  # three steps from the chosen colour


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
    image = FourierImage(2, 16, seed=3, decorrelate=decorrelate)  # Lucid's draw, sd 0.01
    before = image.spectrum.detach().clone()
    colours = torch.tensor([[0.2, 0.5, 0.9], [0.85, 0.3, 0.1]])
    image.set_mean_colour(colours)
    assert torch.allclose(image().mean((2, 3)), colours, atol=0.01)
    detail = torch.ones_like(before, dtype=torch.bool)
    detail[:, :, 0, 0, :] = False
    assert torch.equal(image.spectrum.detach()[detail], before[detail])


@pytest.mark.parametrize("output", ["sigmoid", "clamp"])
def test_a_pixel_image_takes_the_mean_colour_before_its_output_mapping(output):
    colour = torch.tensor([[0.25, 0.5, 0.8]])
    faint = PixelImage(1, 8, seed=0, sd=0.001, output=output)
    faint.set_mean_colour(colour)
    assert torch.allclose(faint().mean((2, 3)), colour, atol=0.01)
    paper = PixelImage(1, 8, seed=0, output=output)  # paper 004's N(0, 1) draw keeps its spread
    raw = paper.pixels.detach().clone()
    paper.set_mean_colour(colour)
    target = torch.logit(colour) if output == "sigmoid" else colour
    assert torch.allclose(paper.pixels.detach().mean((2, 3)), target, atol=1e-5)
    assert torch.allclose(paper.pixels.detach().std((2, 3)), raw.std((2, 3)), atol=1e-5)


def test_the_start_is_checked_by_name_and_keys_atlases_only_when_not_the_default():
    with pytest.raises(ConfigError, match="RenderSettings.start: got 'grey', expected one of: random, best_colour, "
                                          "best_colour_grain"):
        RenderSettings(start="grey")
    assert "start" not in RenderSettings().key()  # keys of atlases cached before the field existed stay valid
    assert RenderSettings(start="best_colour").key()["start"] == "best_colour"


def texture(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between horizontally and vertically neighbouring pixels, per image."""
    return (x.diff(dim=-1).abs().mean((1, 2, 3)) + x.diff(dim=-2).abs().mean((1, 2, 3))) / 2


class GrainScores(nn.Module):
    """Channel 0 wants the dark violet FAR *and* a texture, channel 1 the same colour smooth, channel 2 a texture on
    a light colour."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, grain = x.mean((2, 3)), texture(x)
        at_far = 2.0 - 8 * (m - FAR).pow(2).sum(1)
        light = 1.0 - 8 * (m - torch.tensor([0.8, 0.85, 0.7])).pow(2).sum(1)
        return torch.stack([at_far + 3 * grain, at_far - 3 * grain, light + 3 * grain], 1)[:, :, None, None]


def grain_model() -> TwoPeaks:
    model = TwoPeaks()
    model.scores = GrainScores()
    return model


def test_the_grain_search_picks_the_speckle_each_term_scores_highest_and_probes_once(monkeypatch):
    found = FlatColourGrainSearch(LayerProbe(grain_model(), "scores", normalize=True), channel("scores", [0, 1, 2]),
                                  16, torch.device("cpu"), 5)
    colours = found.colours()
    probed = []
    probe = found.probe
    monkeypatch.setattr(found, "probe", lambda images: probed.append(len(images)) or probe(images))
    grains = found.grain_levels()
    assert GRAINS[0] == 0 and torch.equal(grains, torch.tensor([max(GRAINS), 0.0, max(GRAINS)]))
    assert probed == [5, 5, 2]  # the 3 terms × 4 speckles, in chunks of the render's batch
    found.grain_levels()
    assert probed == [5, 5, 2]
    image = FourierImage(3, 16)
    found(image, torch.arange(3))
    started = image().detach()
    expected = (colours[:, :, None, None] + grains[:, None, None, None] * grain_field(16)).clamp(0, 1)
    assert torch.allclose(started[[0, 2]], expected[[0, 2]].clamp(0.01, 0.99), atol=1e-4)  # the probed pictures
    assert torch.allclose(started[1].mean((1, 2)), colours[1], atol=0.01) and float(texture(started[1:2])) < 0.01


def test_a_grain_started_image_keeps_its_speckle_where_the_colour_start_stays_smooth(one_thread):
    model, objective = grain_model(), channel("scores", [0, 1])
    settings = RenderSettings(**{**SETTINGS.__dict__, "steps": 16, "size": 48, "lr": 0.05})
    grainy = render(model, objective, RenderSettings(**{**settings.__dict__, "start": "best_colour_grain"}))
    flat = render(model, objective, RenderSettings(**{**settings.__dict__, "start": "best_colour"}))
    assert float(roughness(grainy[0])) > 2 * float(roughness(flat[0]))  # the textured term: far rougher
    assert float(roughness(grainy[1])) < 0.01 and float(roughness(flat[1])) < 0.01  # the smooth term: smooth in both
    scores = GrainScores()(torch.cat([grainy, flat]))[:, 0, 0, 0]
    assert scores[0] > scores[2] + 0.1


def test_a_grain_started_image_is_the_same_alone_or_in_a_batch(one_thread):
    settings = RenderSettings(**{**SETTINGS.__dict__, "start": "best_colour_grain", "transforms": True, "steps": 3})
    together = render(grain_model(), channel("scores", [0, 1, 2]), settings)
    alone = render(grain_model(), channel("scores", [2]), settings, indices=[2])
    assert torch.allclose(together[2], alone[0], atol=1e-6)


@pytest.mark.parametrize("decorrelate", [True, False])
def test_a_fourier_image_shows_the_pictures_it_is_set_to_and_keeps_its_other_rows(decorrelate):
    image = FourierImage(3, 12, seed=1, decorrelate=decorrelate)
    before = image.spectrum.detach().clone()
    pictures = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    image.set_images(pictures, torch.tensor([True, False, True]))
    assert torch.allclose(image()[[0, 2]], pictures, atol=1e-5)
    assert torch.equal(image.spectrum.detach()[1], before[1])


@pytest.mark.parametrize("output", ["sigmoid", "clamp"])
def test_a_pixel_image_shows_the_pictures_it_is_set_to_and_keeps_its_other_rows(output):
    image = PixelImage(3, 6, seed=1, output=output)
    before = image.pixels.detach().clone()
    pictures = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    image.set_images(pictures, torch.tensor([1]))
    assert torch.allclose(image()[1], pictures[0], atol=1e-5)
    assert torch.equal(image.pixels.detach()[[0, 2]], before[[0, 2]])


class AestheticHead(TwoPeaks):
    """A model with one task head (a binary aesthetic logit: the mean brightness)."""

    tasks = [TASKS["aesthetic"]]

    def forward(self, x):
        return {"aesthetic": x.mean((1, 2, 3)) + self.anchor}


def test_class_images_start_from_their_colour_and_grain_unless_settings_say_otherwise(monkeypatch):
    seen = []

    def record(model, objective, settings, progress=False):
        seen.append(settings.start)
        return torch.zeros(objective.batch_size, 3, 4, 4)

    monkeypatch.setattr(class_visualisation, "render", record)
    class_visualisations(AestheticHead(), ["aesthetic"])
    class_visualisations(AestheticHead(), ["aesthetic"], SETTINGS)
    assert seen == [CLASS_START, "random"] and CLASS_START == "best_colour_grain"
    assert class_settings(SETTINGS).start == CLASS_START and class_settings(SETTINGS).steps == SETTINGS.steps


def test_run_checks_start_class_images_from_their_colour_unless_settings_are_given(monkeypatch):
    import aelab.viz.faithfulness as faithfulness

    class Loaded:
        model, config = None, {"image_size": 24}

    seen: dict[str, list[RenderSettings]] = {"class_visualisation": [], "atlas_diversity": []}
    monkeypatch.setattr(faithfulness, "load_run", lambda run: Loaded())
    monkeypatch.setattr(faithfulness, "held_out", lambda loaded, n: None)
    for name in seen:
        monkeypatch.setitem(faithfulness.CHECKS, name,
                            lambda model, data, settings, name=name: seen[name].append(settings))
    faithfulness.run_checks("run", list(seen))
    faithfulness.run_checks("run", ["class_visualisation"], settings=RenderSettings(size=24))
    assert [s.start for s in seen["class_visualisation"]] == [CLASS_START, "random"]
    assert seen["class_visualisation"][0].size == 24 and seen["atlas_diversity"][0].start == "random"
