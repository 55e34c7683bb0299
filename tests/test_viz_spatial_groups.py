"""Spatial-position grids (eq. 3), NMF neuron groups (eqs. 4–5) and the per-layer separability score."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import aelab.viz.render as render_module
from aelab.models import build_model
from aelab.viz.groups import GROUP_START, factorize, group_images, neuron_groups, render_groups
from aelab.viz.objectives import DirectionObjective
from aelab.viz.overlays import groups_figure, separability_chart, spatial_grid_figure, stretch_channels
from aelab.viz.probe import layer_activations
from aelab.viz.render import RenderSettings
from aelab.viz.separability import group_features, separability, separability_from_activations
from aelab.viz.spatial import (ACTIVATION_LABEL, BLEND_LABEL, SILENT_CELL_VALUE, activation_grid, blend_cells,
                               cell_weights, layer_cell_size, spatial_grid)


@pytest.fixture(scope="module")
def model(one_thread):
    torch.manual_seed(0)
    return build_model("share_split", "tiny", tasks=["aesthetic", "emotion"]).eval()


@pytest.fixture(scope="module")
def image():
    return torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))


def constant_atlas(colours: torch.Tensor, size: int = 6) -> torch.Tensor:
    """One icon per channel, each a single RGB colour."""
    return colours[:, :, None, None].expand(-1, -1, size, size).clone()


# ---- spatial grid ---------------------------------------------------------------------------------------------


def test_cell_weights_average_each_cell_including_partial_edge_cells():
    act = torch.arange(2 * 7 * 5, dtype=torch.float32).reshape(2, 7, 5)
    act[1] -= 40  # some negative activations: clipped at 0 before averaging
    weights = cell_weights(act, 3)
    assert weights.shape == (3, 2, 2)  # ceil(7/3) × ceil(5/3) cells, C last
    clipped = act.clamp(min=0)
    assert torch.allclose(weights[0, 0], clipped[:, 0:3, 0:3].mean(dim=(1, 2)))
    assert torch.allclose(weights[2, 1], clipped[:, 6:7, 3:5].mean(dim=(1, 2)))  # a 1×2 corner cell
    assert torch.allclose(cell_weights(act, 1), clipped.permute(1, 2, 0))
    with pytest.raises(ValueError, match="cell"):
        cell_weights(act, 0)


def test_blend_is_the_activation_weighted_mean_of_channel_icons():
    colours = torch.rand(5, 3, generator=torch.Generator().manual_seed(0))
    weights = torch.rand(2, 3, 5, generator=torch.Generator().manual_seed(1))
    weights[1, 2] = 0  # a silent cell
    grid = blend_cells(weights, constant_atlas(colours))
    assert grid.shape == (2, 3, 3, 6, 6)
    for i in range(2):
        for j in range(3):
            if (i, j) == (1, 2):
                assert torch.all(grid[i, j] == SILENT_CELL_VALUE)
                continue
            expected = (weights[i, j, :, None] * colours).sum(0) / weights[i, j].sum()
            assert torch.allclose(grid[i, j], expected[:, None, None].expand(3, 6, 6), atol=1e-6)
    top = blend_cells(weights, constant_atlas(colours), top_k=2)
    w = weights[0, 0]
    keep = w.topk(2).indices
    expected = (w[keep, None] * colours[keep]).sum(0) / w[keep].sum()
    assert torch.allclose(top[0, 0, :, 0, 0], expected, atol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        blend_cells(weights, constant_atlas(colours[:4]))


def test_spatial_grid_of_a_model_uses_the_layers_geometry_and_activations(model, image):
    layer = "shared.stage2"  # 12×12 positions at 48 px, 3×3 convolutions → 4×4 cells of 3×3
    assert layer_cell_size(model, layer) == 3
    channels = layer_activations(model, image, layer).shape[1]
    colours = torch.rand(channels, 3, generator=torch.Generator().manual_seed(2))
    grid = spatial_grid(model, image, layer, constant_atlas(colours, 8))
    assert grid.grid.shape == (4, 4, 3, 8, 8) and grid.shape == (4, 4)
    assert grid.cell == 3 and grid.activation_size == (12, 12) and grid.label == BLEND_LABEL
    act = layer_activations(model, image, layer)[0].clamp(min=0)
    cell = act[:, 3:6, 6:9].mean(dim=(1, 2))
    assert torch.allclose(grid.weights[1, 2], cell, atol=1e-5)
    expected = (cell[:, None] * colours).sum(0) / cell.sum()
    assert torch.allclose(grid.grid[1, 2, :, 0, 0], expected, atol=1e-5)
    assert grid.mosaic().shape == (3, 32, 32)
    fine = spatial_grid(model, image, layer, constant_atlas(colours, 8), cell=5)
    assert fine.shape == (3, 3)
    figure = spatial_grid_figure(torch.rand(3, 48, 48), grid)
    titles = " ".join(ax.get_title() for ax in figure.axes) + figure._suptitle.get_text()
    assert BLEND_LABEL in titles and layer in titles
    plt.close(figure)
    with pytest.raises(ValueError, match="one image"):
        spatial_grid(model, image.expand(2, -1, -1, -1), layer, constant_atlas(colours, 8))


def test_activation_grid_renders_every_live_cell_in_one_batch(model, image, monkeypatch):
    calls = []

    def fake_render(model_, objective, settings, **kwargs):
        calls.append(objective)
        return torch.rand(objective.batch_size, 3, settings.size, settings.size)

    monkeypatch.setattr(render_module, "render", fake_render)
    layer = "shared.stage3"  # 6×6 → 2×2 cells
    grid = activation_grid(model, image, layer, RenderSettings(steps=2, size=10))
    assert len(calls) == 1 and isinstance(calls[0], DirectionObjective)
    assert grid.grid.shape == (2, 2, 3, 10, 10) and grid.label == ACTIVATION_LABEL
    live = grid.weights.reshape(4, -1).sum(1) > 0
    assert calls[0].batch_size == int(live.sum())
    assert torch.allclose(calls[0].vectors, grid.weights.reshape(4, -1)[live])


def test_activation_grid_with_the_real_renderer_pictures_each_cells_own_activation(model):
    """Stripes planted in the top-left quarter of a blank image make that cell's activation vector differ from the
    others'; each cell's rendered picture, probed again, points closer to its own cell's vector than any other
    cell's picture does (cells and pictures are not mixed up, and the optimisation follows each cell's direction)."""
    layer = "shared.stage3"  # 6×6 positions at 48 px → 2×2 cells
    image = torch.zeros(1, 3, 48, 48)
    image[0, :, :24, :24] = 2 * torch.sin(1.5 * torch.arange(24.0))  # vertical stripes over cell (0, 0)
    grid = activation_grid(model, image, layer, RenderSettings(steps=16, size=16, transforms=False))
    assert grid.grid.shape == (2, 2, 3, 16, 16)
    vectors = grid.weights.reshape(4, -1)
    similarity = torch.nn.functional.cosine_similarity(vectors[:, None], vectors[None], dim=-1)
    assert similarity[0, 1:].max() < 0.9  # the planted cell differs from the background cells
    pictures = grid.grid.reshape(4, 3, 16, 16)
    probed = layer_activations(model, pictures, layer, normalize=True).mean(dim=(-2, -1))
    match = torch.nn.functional.cosine_similarity(probed[:, None], vectors[None], dim=-1)  # picture × cell
    assert torch.equal(match.argmax(dim=0), torch.arange(4)), match


# ---- neuron groups --------------------------------------------------------------------------------------------


def test_nmf_recovers_a_planted_non_negative_factorisation():
    g = torch.Generator().manual_seed(0)
    u0, v0 = torch.rand(2 * 8 * 8, 3, generator=g), torch.rand(3, 32, generator=g)
    acts = (u0 @ v0).reshape(2, 8, 8, 32).permute(0, 3, 1, 2)  # 2 images, 32 channels, 8×8, exactly rank 3
    groups = factorize(acts, 3)
    assert groups.spatial.shape == (2, 3, 8, 8) and groups.channels.shape == (3, 32)
    assert (groups.spatial >= 0).all() and (groups.channels >= 0).all()
    assert torch.allclose(groups.channels.norm(dim=1), torch.ones(3), atol=1e-5)
    masses = groups.spatial.sum(dim=(0, 2, 3))
    assert (masses[:-1] >= masses[1:]).all()  # ordered by mass
    # exact rank 3 data: NMF with 3 groups reconstructs it (solver tolerance 1e-5 → errors ~1e-5)
    assert groups.relative_error < 1e-3
    recon = groups.reconstruction()
    assert float((recon - acts).norm() / acts.norm()) == pytest.approx(groups.relative_error, abs=1e-5)


def svd_error(acts: torch.Tensor, rank: int) -> float:
    matrix = acts.clamp(min=0).permute(0, 2, 3, 1).reshape(-1, acts.shape[1]).double()
    s = torch.linalg.svdvals(matrix)
    return float((s[rank:] ** 2).sum().sqrt() / s.norm())


def test_nmf_of_real_activations_reconstructs_within_the_bounds_theory_gives(model):
    """Bounds: no rank-r factorisation beats the rank-r SVD (Eckart–Young), so err_NMF(r) >= err_SVD(r); for r = 1
    the non-negative leading singular pair (Perron–Frobenius) *is* the optimum, so err_NMF(1) = err_SVD(1), and
    more groups never need to do worse than one, so err_NMF(r) <= err_SVD(1) (up to solver tolerance)."""
    images = torch.randn(3, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    acts = layer_activations(model, images, "shared.stage3")
    one = neuron_groups(model, images, "shared.stage3", 1)
    assert one.spatial.shape == (3, 1, 6, 6) and one.channels.shape == (1, acts.shape[1])
    assert one.relative_error == pytest.approx(svd_error(acts, 1), abs=1e-6)
    iterative = factorize(acts, 1, method="sklearn")  # scikit-learn's solver lands on the same optimum
    assert iterative.relative_error == pytest.approx(one.relative_error, abs=2e-3)
    previous = one.relative_error
    for rank in (2, 4):
        groups = factorize(acts, rank)
        assert svd_error(acts, rank) - 1e-6 <= groups.relative_error <= one.relative_error + 1e-3
        assert groups.relative_error <= previous + 1e-3
        previous = groups.relative_error
        assert (groups.spatial >= 0).all() and (groups.channels >= 0).all()
    single = neuron_groups(model, images[0], "shared.stage3", 2)
    assert single.spatial.shape == (1, 2, 6, 6)


def test_paper_group_image_is_the_v_weighted_sum_of_channel_icons():
    g = torch.Generator().manual_seed(4)
    atlas = torch.rand(6, 3, 5, 5, generator=g)
    v = torch.rand(2, 6, generator=g)
    raw = group_images(v, atlas, normalize=False)
    assert raw.shape == (2, 3, 5, 5)
    for group in range(2):
        expected = sum(atlas[k] * v[group, k] for k in range(6))
        assert torch.allclose(raw[group], expected, atol=1e-6)
    normalised = group_images(v, atlas)
    assert torch.allclose(normalised, raw / v.sum(1)[:, None, None, None], atol=1e-6)
    assert normalised.min() >= 0 and normalised.max() <= 1  # a convex blend stays an image
    with pytest.raises(ValueError, match="same C"):
        group_images(v, atlas[:5])


def test_groups_are_rendered_as_directions_in_one_batch_and_drawn(model, image, monkeypatch):
    groups = neuron_groups(model, image, "shared.stage3", 3)
    seen = []

    def fake_render(model_, objective, settings, **kwargs):
        seen.append((objective, settings.start))
        return torch.rand(objective.batch_size, 3, settings.size, settings.size)

    monkeypatch.setattr(render_module, "render", fake_render)
    optimised = render_groups(model, groups, RenderSettings(steps=2, size=12))
    assert optimised.shape == (3, 3, 12, 12)
    (objective, start), = seen
    assert torch.equal(objective.vectors, groups.channels) and objective.layer == "shared.stage3"
    assert start == GROUP_START == "best_colour_grain"  # a whole image's group: its colour and grain searched first
    render_groups(model, groups, RenderSettings(steps=2, size=12), start=None)
    assert seen[1][1] == "random"  # the settings' own start
    paper = group_images(groups.channels, torch.rand(groups.channels.shape[1], 3, 12, 12))
    figure = groups_figure(torch.rand(3, 48, 48), groups, paper, optimised)
    assert len(figure.axes) == 9
    assert "shared.stage3" in figure._suptitle.get_text()
    # eq. 5 averages random icons to near-grey; the paper column shows the groups stretched together
    assert float(paper.max() - paper.min()) < 0.6
    shown = np.stack([figure.axes[3 * g].images[0].get_array() for g in range(3)])
    assert np.allclose(shown, stretch_channels(paper).permute(0, 2, 3, 1).numpy())
    assert shown.min() == 0 and shown.max() == pytest.approx(1) and "stretched" in figure.axes[0].get_title()
    assert np.allclose(figure.axes[1].images[0].get_array(), optimised[0].permute(1, 2, 0).numpy())
    plt.close(figure)


def test_a_stretch_fills_each_colour_channel_over_a_set_and_keeps_its_order():
    pictures = 0.45 + 0.1 * torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    pictures[1] += 0.02  # one picture a little lighter than the rest
    stretched = stretch_channels(pictures)
    for c in range(3):
        assert stretched[:, c].min() == 0 and stretched[:, c].max() == pytest.approx(1)
        order = pictures[:, c].flatten().argsort()
        assert torch.all(stretched[:, c].flatten()[order].diff() >= -1e-6)  # each channel's order is kept
    assert stretched[1].mean() > stretched[[0, 2, 3]].mean()  # shared stretch: the lighter one stays lighter
    flat = torch.full((2, 3, 4, 4), 0.5)
    assert torch.equal(stretch_channels(flat), torch.zeros_like(flat))  # no range: no division by zero


# ---- separability -----------------------------------------------------------------------------------------------


def two_classes(n: int, shift: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations (n, 16, 4, 4) of two classes; with ``shift`` class b's extra energy sits in other channels."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(n, 16, 4, 4, generator=g), torch.rand(n, 16, 4, 4, generator=g)
    a[:, 0:4] += 1.0
    b[:, (shift if shift is not None else 0):(shift if shift is not None else 0) + 4] += 1.0
    return a, b


@pytest.mark.parametrize("representation", ["image", "shared"])
def test_separability_sees_a_planted_difference_and_not_its_absence(representation):
    planted = separability_from_activations(*two_classes(30, 8, 0), representation=representation, n_shuffles=6)
    assert planted.score > 0.9
    assert planted.score > planted.control_mean + 4 * planted.control_std
    assert abs(planted.control_mean - 0.5) < 0.15
    null = separability_from_activations(*two_classes(30, None, 1), representation=representation, n_shuffles=6)
    assert abs(null.score - 0.5) < 0.2
    assert abs(null.score - null.control_mean) < 3 * null.control_std + 0.05


def test_group_features_shapes():
    acts = torch.rand(5, 16, 4, 4)
    assert group_features(acts, "image").shape == (5, 16)
    shared = group_features(acts, "shared", n_groups=3)
    assert shared.shape == (5, 3) and np.allclose(shared.sum(1), 1)


def test_separability_per_layer_of_a_model_and_its_chart(model):
    g = torch.Generator().manual_seed(5)
    images_a = torch.randn(8, 3, 48, 48, generator=g) + 0.5
    images_b = torch.randn(8, 3, 48, 48, generator=g) - 0.5
    results = separability(model, images_a, images_b, ["shared.stage2", "shared.stage3"], folds=4, n_shuffles=3)
    assert [r.layer for r in results] == ["shared.stage2", "shared.stage3"]
    for r in results:  # brighter vs darker noise: every layer tells them apart, far above the shuffled control
        assert r.score >= 0.9 and r.score > r.control_mean + 2 * r.control_std, r
        assert len(r.control_scores) == 3 and r.n_a == r.n_b == 8
        assert set(r.to_dict()) >= {"score", "control_mean", "control_std", "margin", "z"}
    figure = separability_chart(results, classes=("positive", "negative"))
    assert "positive vs negative" in figure.axes[0].get_title()
    plt.close(figure)


def test_grid_and_groups_take_the_cached_layer_atlas(model, image, tmp_path):
    from aelab.viz.atlas import layer_atlas
    from aelab.viz.groups import paper_group_images

    settings = RenderSettings(steps=3, size=12, transforms=False)
    layer = "shared.stage3"
    grid = spatial_grid(model, image, layer, settings=settings, cache_dir=tmp_path)  # builds and caches the atlas
    atlas = layer_atlas(model, layer, settings, tmp_path, progress=False)  # a cache hit
    assert atlas.shape[0] == grid.weights.shape[-1] and atlas.shape[-1] == 12
    assert torch.allclose(grid.grid, spatial_grid(model, image, layer, atlas).grid)
    groups = neuron_groups(model, image, layer, 2)
    paper = paper_group_images(model, groups, settings=settings, cache_dir=tmp_path)
    assert torch.allclose(paper, group_images(groups.channels, atlas))
    with pytest.raises(ValueError, match="atlas"):
        spatial_grid(model, image, layer)
