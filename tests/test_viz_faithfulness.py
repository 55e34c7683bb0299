"""Faithfulness checks against known answers: hand-wired networks whose class images, group images, spatial grids
and atlases must recover what was planted, and constant or mis-wired networks on which the checks must fail."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aelab.data import SynthAE
from aelab.data.normalization import IDENTITY_NORMALIZATION
from aelab.data.synthetic.recipes import RECIPES
from aelab.data.synthetic.render import hsv as recipe_colour
from aelab.errors import ConfigError, UnknownNameError
from aelab.tasks import EMOTIONS, TASKS, is_positive
from aelab.viz.class_visualisation import TaskOutputs, class_names, class_visualisations
from aelab.viz.faithfulness import (CHECKS, HeldOut, atlas_diversity, check_class_images, class_visualisation_check,
                                    diversity, group_smoothness, group_smoothness_figure, held_out, random_copy,
                                    spatial_contrast, spatial_contrast_figure)
from aelab.viz.faithfulness.class_check import chance_of_match, match_recipe
from aelab.viz.faithfulness.colour import dominant_hue, hsv, hue_distance
from aelab.viz.faithfulness.groups_check import paired_test
from aelab.viz.groups import GROUP_START
from aelab.viz.faithfulness.spatial_check import (cell_roles, contrast, contrast_defined, grid_contrast, image_grids,
                                                 normalised_mosaic, shown_pair)
from aelab.viz.render_settings import RenderSettings

LAPLACIAN = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def grey(x: torch.Tensor) -> torch.Tensor:
    return (x * LUMA).sum(1, keepdim=True)


def texture(x: torch.Tensor) -> torch.Tensor:
    """|Laplacian| of the grey image, same size (a high-frequency texture detector)."""
    return F.conv2d(F.pad(grey(x), (1, 1, 1, 1), mode="replicate"), LAPLACIAN).abs()


class Wired(nn.Module):
    """A hand-wired model with the input normalisation and task list that the viz functions read."""

    def __init__(self):
        super().__init__()
        self.normalization = IDENTITY_NORMALIZATION
        self.anchor = nn.Parameter(torch.zeros(1))  # a parameter, so the model has a device


class RecipeNet(Wired):
    """Emotion logit ``k``: closeness of every pixel to recipe ``shift(k)``'s colour (hue, mid saturation, mid
    brightness), plus for negative emotions a reward for fine texture up to SynthAE's speckle level."""

    def __init__(self, shift: int = 0, texture_cap: float = 0.1):
        super().__init__()
        recipes = list(RECIPES.values())
        colours = [recipe_colour(r.hue, sum(r.saturation) / 2, sum(r.brightness) / 2) for r in recipes]
        self.register_buffer("colours", torch.tensor(np.roll(np.array(colours), -shift, axis=0), dtype=torch.float32))
        self.register_buffer("rough", torch.tensor([0.0 if is_positive(k) else 1.0 for k in range(8)]))
        self.tasks = [TASKS["emotion"], TASKS["aesthetic"]]
        self.texture_cap = texture_cap

    def forward(self, x):
        distance = (x[:, None] - self.colours[None, :, :, None, None]).pow(2).sum(2).mean((-2, -1))
        fine = texture(x).mean((1, 2, 3)).clamp(max=self.texture_cap)
        emotion = -distance + self.rough[None] * fine[:, None] + self.anchor
        return {"emotion": emotion, "aesthetic": grey(x).mean((1, 2, 3)) + self.anchor}


class ConstantNet(Wired):
    """Every output and feature is the same whatever the image."""

    def __init__(self, channels: int = 2):
        super().__init__()
        self.tasks = [TASKS["emotion"]]
        self.features = nn.Conv2d(3, channels, 1)
        nn.init.zeros_(self.features.weight)
        nn.init.constant_(self.features.bias, 0.5)

    def forward(self, x):
        return {"emotion": self.features(x).mean((2, 3))[:, :1].expand(-1, 8) + self.anchor}


FAST = RenderSettings(steps=128, size=32, lr=0.3, batch_size=8)


@pytest.fixture(scope="module")
def recipe_images(one_thread):
    return class_visualisations(RecipeNet(), ["emotion"], FAST)["emotion"]


# ---- colour measures -------------------------------------------------------------------------------------------


def test_hsv_matches_colorsys_and_dominant_hue_follows_the_saturated_pixels():
    import colorsys

    pixels = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    hue, saturation, value = hsv(pixels)
    for y in range(4):
        for x in range(4):
            h, s, v = colorsys.rgb_to_hsv(*pixels[0, :, y, x].tolist())
            assert abs(float(hue_distance(hue[0, y, x], h * 360))) < 1e-3
            assert saturation[0, y, x] == pytest.approx(s, abs=1e-5) and value[0, y, x] == pytest.approx(v, abs=1e-6)
    image = torch.tensor(recipe_colour(200, 0.8, 0.7), dtype=torch.float32)[:, None, None].repeat(1, 16, 16)
    image[:, :, :10] = torch.tensor(recipe_colour(20, 0.05, 0.7), dtype=torch.float32)[:, None, None]  # mostly grey
    assert float(hue_distance(dominant_hue(image)[0], 200)) < 2
    assert float(hue_distance(350, 10)) == pytest.approx(20)


def test_recipe_measures_recover_synthae_images_of_their_own_recipe():
    data = SynthAE(160, size=48, seed=3)
    from torchvision.transforms.functional import to_tensor

    matched = {e: [] for e in EMOTIONS}
    for i in range(len(data)):
        factors = data.factors(i)
        if len(set(factors["recipe_of"].values())) > 1 or factors["effects"]:
            continue  # a borrowed attribute or a photographic effect changes the look on purpose
        emotion = EMOTIONS[factors["emotion"]]
        matched[emotion].append(match_recipe(emotion, to_tensor(data.render(i))).matched)
    shares = {e: np.mean(m) for e, m in matched.items() if m}
    overall = np.mean([v for m in matched.values() for v in m])
    assert len(shares) == 8 and overall >= 0.75 and min(shares.values()) >= 0.4, shares  # chance: 0.02–0.06 each


def test_chance_follows_the_hue_family_width_and_brightness_range():
    recipe = RECIPES["anger"]
    assert chance_of_match(recipe) == pytest.approx(2 * 16 / 360 * 0.3)
    assert chance_of_match(RECIPES["sadness"]) == pytest.approx(0.32 * 0.25)


# ---- 1. class visualisation --------------------------------------------------------------------------------------


def test_class_visualisation_of_a_recipe_wired_network_lands_in_each_recipe(recipe_images):
    result = check_class_images(recipe_images)
    assert result.value == 8 and result.passed, result.describe()
    assert result.positive_roughness < result.negative_roughness
    assert 0 < result.chance < 1
    assert "8/8" in result.describe() and "pass" in result.describe()
    assert result.as_dict()["description"] == result.describe()


def flat_recipe_images(side: int = 24) -> torch.Tensor:
    """One flat image per emotion in its recipe's colour (hue, mid saturation, mid brightness)."""
    colours = [recipe_colour(r.hue, sum(r.saturation) / 2, sum(r.brightness) / 2) for r in RECIPES.values()]
    return torch.tensor(np.array(colours), dtype=torch.float32)[:, :, None, None].repeat(1, 1, side, side)


def test_class_check_needs_grey_sadness_and_smoother_positive_images():
    positive = [k for k in range(8) if is_positive(k)]
    negative = [k for k in range(8) if not is_positive(k)]
    images = flat_recipe_images()
    images[negative] += 0.02 * torch.randn(4, 3, 24, 24, generator=torch.Generator().manual_seed(0))  # negatives grainy
    assert check_class_images(images.clamp(0, 1)).passed
    coloured = images.clone()
    coloured[7] = torch.tensor(recipe_colour(RECIPES["sadness"].hue, 0.8, 0.45), dtype=torch.float32)[:, None, None]
    result = check_class_images(coloured.clamp(0, 1))
    assert result.value == 7 and not result.classes[7].colour_ok and not result.passed
    swapped = flat_recipe_images()
    swapped[positive] += 0.02 * torch.randn(4, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    result = check_class_images(swapped.clamp(0, 1))
    assert result.value == 8 and not result.passed and "not smoother" in result.describe()


def test_class_visualisation_check_fails_on_a_mis_wired_and_a_constant_network(one_thread):
    shifted = class_visualisation_check(RecipeNet(shift=1), FAST)
    assert not shifted.passed and shifted.value <= 2, shifted.describe()
    constant = class_visualisation_check(ConstantNet(), FAST)
    assert not constant.passed and constant.value <= 2, constant.describe()
    assert "FAIL" in constant.describe()


def test_class_visualisation_of_a_binary_head_maximises_each_class_score(one_thread):
    images = class_visualisations(RecipeNet(), ["aesthetic"], RenderSettings(steps=24, size=16, lr=0.3))["aesthetic"]
    assert images.shape == (2, 3, 16, 16)
    assert class_names(RecipeNet(), "aesthetic") == ("low", "high")
    assert grey(images[1:]).mean() > 0.8 and grey(images[:1]).mean() < 0.2  # "high" is bright, "low" dark


def test_class_visualisation_refuses_a_model_without_task_heads_and_an_unknown_task():
    with pytest.raises(ConfigError, match="task heads"):
        TaskOutputs(nn.Conv2d(3, 1, 1))
    with pytest.raises(UnknownNameError, match="emotion"):
        class_visualisations(RecipeNet(), ["valence"], FAST)
    with pytest.raises(ConfigError, match=r"class images: got \(3, 3, 8, 8\)"):
        check_class_images(torch.rand(3, 3, 8, 8))


# ---- 2. neuron groups: positive smoother (paper 004 Fig. 8) ------------------------------------------------------


class SmoothOrTexture(nn.Module):
    """Two channels: local brightness (smooth regions) and |Laplacian| (fine texture), weighted to similar scales."""

    def forward(self, x):
        return torch.cat([F.avg_pool2d(grey(x), 3, 1, 1, count_include_pad=False), 3 * texture(x)], dim=1)


class TextureNet(Wired):
    def __init__(self):
        super().__init__()
        self.features = SmoothOrTexture()

    def forward(self, x):
        return self.features(x).mean((2, 3))


class ConstantFeatures(Wired):
    def __init__(self):
        super().__init__()
        self.features = ConstantNet().features

    def forward(self, x):
        return self.features(x).mean((2, 3))


@pytest.fixture(scope="module")
def synthae_32(one_thread):
    return held_out(32, n=100)


GROUPS = RenderSettings(steps=48, size=32, lr=0.3, batch_size=16)


def test_group_images_of_a_texture_wired_network_are_smoother_for_positive_images(synthae_32):
    result = group_smoothness(TextureNet(), synthae_32, ["features"], settings=GROUPS, pairs=25)
    assert [(r.layer, r.mode) for r in result.rows] == [("features", "paper"), ("features", "optimised")]
    for row in result.rows:
        assert row.passed and row.negative > row.positive and row.p_value < 0.05, row
    assert result.passed and result.value == 2 and result.chance == pytest.approx(0.1)
    figure = group_smoothness_figure(result)
    assert result.describe() in figure.texts[0].get_text() and len(figure.axes) == 2
    plt.close(figure)


def test_the_optimised_group_images_start_where_group_start_says(synthae_32, monkeypatch):
    import aelab.viz.render as render_module

    starts, real = [], render_module.render

    def recording(model, objective, settings, **kwargs):
        starts.append(settings.start)
        return real(model, objective, settings, **kwargs)

    monkeypatch.setattr(render_module, "render", recording)
    quick = RenderSettings(**{**GROUPS.__dict__, "steps": 2})
    group_smoothness(TextureNet(), synthae_32, ["features"], settings=quick, pairs=25, modes=["optimised"])
    group_smoothness(TextureNet(), synthae_32, ["features"], settings=quick, pairs=25, modes=["optimised"],
                     group_start=None)
    assert starts == [GROUP_START, "random"]


def test_group_smoothness_fails_on_a_constant_network_and_needs_enough_pairs(synthae_32):
    result = group_smoothness(ConstantFeatures(), synthae_32, ["features"], settings=GROUPS, pairs=25,
                              modes=["paper"])
    assert not result.passed and result.rows[0].p_value == 1.0
    with pytest.raises(ConfigError, match="at least 50 of each"):
        group_smoothness(TextureNet(), synthae_32, ["features"], settings=GROUPS)  # 51 positive, 49 negative
    with pytest.raises(ConfigError, match="modes"):
        group_smoothness(TextureNet(), synthae_32, ["features"], settings=GROUPS, pairs=12, modes=["eq9"])


def test_paired_test_is_one_sided():
    low, high = torch.linspace(0, 1, 20), torch.linspace(0, 1, 20) + 0.1
    assert paired_test(low, high)[2] < 0.01  # negative rougher: significant
    assert paired_test(high, low)[2] > 0.5  # the other way round: not
    assert paired_test(low, low) == (0.0, 0.0, 1.0)


# ---- 4. spatial grid: the subject's cells stand out --------------------------------------------------------------


class BrightOrDark(Wired):
    """Two channels at every position: how much brighter and how much darker than mid-grey the pixel is."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.features.bias.copy_(torch.tensor([-0.5, 0.5]))

    def forward(self, x):
        return F.relu(self.features(grey(x))).mean((2, 3))

    def forward_until(self, x, name):
        return F.relu(self.features(grey(x)))

    def probe_layers(self):
        return ["features"]


def subject_scenes(count: int = 6, side: int = 32) -> HeldOut:
    """Grey, noisy backgrounds with one bright square subject each, at a known box."""
    generator = torch.Generator().manual_seed(0)
    pixels = (0.4 + 0.08 * torch.randn(count, 3, side, side, generator=generator)).clamp(0, 1)
    boxes = []
    for i in range(count):
        x0, y0 = [int(v) for v in torch.randint(0, side - 12, (2,), generator=generator)]
        pixels[i, :, y0:y0 + 12, x0:x0 + 12] = 0.9
        boxes.append([x0 / side, y0 / side, (x0 + 12) / side, (y0 + 12) / side])
    return HeldOut(pixels, np.zeros(count, dtype=int), np.zeros(count, dtype=bool), boxes)


ICONS = torch.tensor([[1.0, 0.1, 0.1], [0.1, 0.2, 1.0]])[:, :, None, None].expand(2, 3, 6, 6).contiguous()


def test_cell_roles_split_subject_background_and_edge_cells():
    inside, background = cell_roles((4, 4), (8, 8), 2, [0.25, 0.25, 0.75, 0.75])
    assert inside[1:3, 1:3].all() and inside.sum() == 4
    assert background.sum() == 12 and not background[1:3, 1:3].any()
    inside, background = cell_roles((4, 4), (8, 8), 2, [0.2, 0.2, 0.6, 0.6])  # cells partly over the box: neither
    assert inside.sum() == 1 and inside[1, 1] and background.sum() == 7 and not background[:3, :3].any()
    grid = torch.zeros(4, 4, 3, 2, 2)
    grid[1:3, 1:3] = 1.0
    grid[0, 0] = 0.1
    assert contrast(grid, *cell_roles((4, 4), (8, 8), 2, [0.25, 0.25, 0.75, 0.75])) > 10
    assert np.isnan(contrast(grid, torch.zeros(4, 4, dtype=torch.bool), torch.ones(4, 4, dtype=torch.bool)))


def test_shown_pair_skips_images_whose_grid_check_has_no_value():
    from aelab.viz.spatial import SpatialGrid

    grid = SpatialGrid(torch.rand(4, 4, 3, 2, 2), torch.rand(4, 4, 1), 2, "x", (8, 8), "blend", "")
    between_cells = [0.30, 0.30, 0.36, 0.36]  # no cell centre inside: no subject cell
    whole_frame = [0.0, 0.0, 1.0, 1.0]  # no background cell
    fine = [[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.5, 0.5]]
    assert not contrast_defined(grid, between_cells) and not contrast_defined(grid, whole_frame)
    assert np.isnan(grid_contrast(grid, between_cells)) and np.isnan(grid_contrast(grid, whole_frame))
    boxes = [between_cells, fine[0], whole_frame, fine[1]]
    grids = dict.fromkeys(range(4), grid)
    assert shown_pair(grids, boxes, first=[0, 1], second=[2, 3]) == (1, 3)
    assert all(contrast_defined(grid, boxes[i]) for i in (1, 3))
    assert shown_pair(grids, boxes, first=[0], second=[2]) == (0, 2)  # none defined: the first of each
    # cells of 3 on a 4 × 4 map: centres at 0.375 and 0.875
    coarse = SpatialGrid(torch.rand(2, 2, 3, 2, 2), torch.rand(2, 2, 1), 3, "x", (4, 4), "blend", "")
    off_centre = [0.5, 0.5, 0.7, 0.7]  # holds a centre of the fine grid, none of the coarse one
    assert contrast_defined(grid, off_centre) and not contrast_defined(coarse, off_centre)
    assert contrast_defined(coarse, fine[1])
    # no pair has all four values: the pair whose own boxes have one, not the first of each
    mixed = {0: grid, 1: grid, 2: coarse}
    assert shown_pair(mixed, [between_cells, off_centre, fine[1]], first=[0, 1], second=[2]) == (1, 2)
    assert shown_pair(mixed, [between_cells, off_centre, fine[1]], torch.tensor([0, 1]), torch.tensor([2])) == (1, 2)


def test_spatial_grid_of_a_brightness_wired_network_singles_out_the_subject(one_thread):
    scenes = subject_scenes()
    result = spatial_contrast(BrightOrDark(), scenes, ["features"], atlases={"features": ICONS}, top_k=2)
    row = result.rows[0]
    assert result.passed and row.median >= 2 and row.images == 6, result.describe()
    assert row.control < 2 and result.chance == row.control  # another image's box holds no subject
    grid = image_grids(BrightOrDark(), scenes.pixels[:1], "features", ICONS, 2)[0]
    mosaic = normalised_mosaic(grid)
    assert mosaic.amin(dim=(1, 2)).max() == 0 and mosaic.amax(dim=(1, 2)).min() == pytest.approx(1)  # not grey
    figure = spatial_contrast_figure(scenes.pixels[0], grid, scenes.boxes[0], result)
    assert figure.texts[0].get_text() == result.describe() and len(figure.axes[1].patches) == 1
    plt.close(figure)


def test_spatial_contrast_fails_on_a_constant_network():
    class Constant(BrightOrDark):
        def forward_until(self, x, name):
            return torch.ones(len(x), 2, x.shape[-2], x.shape[-1])

    result = spatial_contrast(Constant(), subject_scenes(), ["features"], atlases={"features": ICONS})
    assert not result.passed and "FAIL" in result.describe()
    with pytest.raises(ConfigError, match="at least 2 images"):
        spatial_contrast(BrightOrDark(), subject_scenes(1), ["features"], atlases={"features": ICONS})


# ---- 6. atlas diversity ----------------------------------------------------------------------------------------


class HueNet(Wired):
    """Six channels, each a 1×1 convolution along one saturated colour direction (red, yellow, green, cyan, blue,
    magenta against their complements) passed on by a 3×3 convolution that keeps each channel to itself (so a
    random copy mixes channels, as an untrained layer does); ``same=True`` wires every channel to red."""

    def __init__(self, same: bool = False):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 1, bias=False), nn.ReLU(),
                                      nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.ReLU())
        hues = [0] * 6 if same else [0, 60, 120, 180, 240, 300]
        directions = torch.stack([torch.tensor(recipe_colour(h, 1, 1), dtype=torch.float32) - 0.5 for h in hues])
        with torch.no_grad():
            self.features[0].weight.copy_(4 * directions[:, :, None, None])
            self.features[2].weight.zero_()
            self.features[2].weight[range(6), range(6), 1, 1] = 1.0

    def forward(self, x):
        return self.features(x).mean((2, 3))


ATLAS = RenderSettings(steps=48, size=24, lr=0.3)


def test_atlas_of_a_hue_wired_layer_is_more_diverse_than_a_random_copy(one_thread):
    for seed in range(2):  # two random copies
        result = atlas_diversity(HueNet(), "features", settings=ATLAS, seed=seed)
        assert result.passed and result.value > result.chance and result.channels == 6, result.describe()
    same = atlas_diversity(HueNet(same=True), "features", settings=ATLAS)
    assert not same.passed and same.value < same.chance, same.describe()


def test_random_copy_redraws_parameters_without_touching_the_original_or_the_global_random_state():
    net = HueNet()
    state = torch.random.get_rng_state()
    twin = random_copy(net, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not torch.equal(twin.features[0].weight, net.features[0].weight)
    assert torch.equal(random_copy(net, seed=1).features[0].weight, twin.features[0].weight)
    assert twin.normalization == net.normalization
    assert diversity(torch.ones(3, 3, 8, 8)) == 0
    with pytest.raises(ConfigError, match="at least 2"):
        diversity(torch.ones(1, 3, 8, 8))


def test_held_out_images_of_a_run_are_its_synthae_examples_with_their_ground_truth():
    from pathlib import Path

    from aelab.load import LoadedRun

    config = {"data": "synthae", "image_size": 32, "normalization": "none", "seed": 0}
    run = LoadedRun(Path("run"), config, HueNet(), Path("run/best.pt"), IDENTITY_NORMALIZATION)
    data = held_out(run, 6)
    assert data.pixels.shape == (6, 3, 32, 32) and len(data.boxes) == 6
    assert list(data.positive) == [is_positive(int(e)) for e in data.emotion]
    assert torch.allclose(data.pixels, held_out(32, 6).pixels, atol=1 / 255)  # the same held-out seed
    with pytest.raises(ConfigError, match="data: got 'fi'"):
        held_out(LoadedRun(Path("run"), {**config, "data": "fi"}, HueNet(), Path("x"), IDENTITY_NORMALIZATION), 6)
    with pytest.raises(ConfigError, match="n: got 0"):
        held_out(32, 0)


def test_run_checks_refuses_an_unknown_check_before_loading_anything(tmp_path):
    from aelab.viz.faithfulness import run_checks

    with pytest.raises(UnknownNameError, match="faithfulness check 'hue'"):
        run_checks(tmp_path / "missing", ["hue"])


def test_checks_registry_names_every_check_with_one_signature(one_thread):
    assert list(CHECKS) == ["class_visualisation", "group_smoothness", "spatial_grid", "atlas_diversity"]
    result = CHECKS["atlas_diversity"](HueNet(), None, ATLAS, layer="features", channels=[0, 3])
    assert result.channels == 2 and result.passed


def test_a_check_line_says_undefined_and_infinite_in_words():
    from aelab.viz.faithfulness import CheckResult

    line = CheckResult("grid contrast", float("nan"), float("inf"), "≥ 2×", False).describe()
    assert line == "grid contrast: undefined (chance ∞; needs ≥ 2×) — FAIL"
    assert CheckResult("share", 0.25, 0.125, "≥ 2×", True).describe() == "share: 0.25 (chance 0.125; needs ≥ 2×) — pass"
