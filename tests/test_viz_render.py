"""Probe, objectives, parameterisations, transforms and the batched, truncated renderer (docs/science.md §6)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from aelab.errors import ConfigError, UnknownNameError
from aelab.models import build_model
from aelab.models.backbones import build_backbone
from aelab.viz.objectives import channel, direction, neuron
from aelab.viz.parameterization import PARAMETERIZATIONS, FourierImage, PixelImage
from aelab.viz.probe import input_normalization, layer_activations, truncated
from aelab.viz.render import RenderSettings, lucid_defaults, paper_defaults, render, render_channels
from aelab.viz.readability import clipped_share, roughness
from aelab.viz.render_optim import StepRule
from aelab.viz.robustness import RandomTransforms, TransformSpec, apply_transforms

pytestmark = pytest.mark.usefixtures("one_thread", "offline")

# the defaults, shortened for CPU tests: 24 steps of a larger learning rate than the default (which is chosen for
# readable images over more steps); Lucid's transforms (pad 12, jitter 8 px) are meant for 128-224 px images and
# swamp a 32 px one, so the fast tests leave them out (the GoogLeNet test and the transform tests keep them)
SHORT_LR = 0.3
FAST = RenderSettings(steps=24, size=32, transforms=False, lr=SHORT_LR)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_backbone("tiny").eval()


@pytest.fixture(scope="module")
def two_branch():
    torch.manual_seed(0)
    return build_model("cross_stitch", "tiny").eval()


def channel_means(model, images, layer, channels):
    act = layer_activations(model, images, layer, normalize=True)
    return act[torch.arange(len(channels)), torch.tensor(channels)].mean(dim=(-2, -1))


# ---- objectives ----------------------------------------------------------------------------------------------


def hand_made() -> torch.Tensor:
    """Activation (2 images, 3 channels, 2×3 positions) with values 0..35."""
    return torch.arange(36, dtype=torch.float32).reshape(2, 3, 2, 3)


def test_channel_neuron_and_direction_values():
    act = hand_made()
    # image 0 → channel 1 (values 6..11, mean 8.5); image 1 → channel 2 (values 30..35, mean 32.5)
    assert channel("L", [1, 2])(act).tolist() == [8.5, 32.5]
    # centre of a 2×3 map is row 1, column 1: channel 0 of image 0 → 4; channel 2 of image 1 → 18 + 12 + 4 = 34
    assert neuron("L", [0, 2])(act).tolist() == [4.0, 34.0]
    assert neuron("L", [0, 2], x=2, y=0)(act).tolist() == [2.0, 32.0]
    assert neuron("L", [0, 0], x=[0, 1], y=[1, 0])(act).tolist() == [3.0, 19.0]
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]])
    # image 0: channel 0 mean (2.5); image 1: channel 1 − channel 2 = −6 everywhere
    assert direction("L", vectors)(act).tolist() == [2.5, -6.0]


def test_direction_cosine_power_rewards_alignment():
    act = torch.zeros(2, 2, 1, 1)
    act[0, :, 0, 0] = torch.tensor([3.0, 0.0])  # aligned with (1, 0): cos 1
    act[1, :, 0, 0] = torch.tensor([3.0, 3.0])  # 45°: cos 0.7071
    vectors = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    plain = direction("L", vectors)(act)
    cos2 = direction("L", vectors, cossim_power=2)(act)
    assert plain.tolist() == [3.0, 3.0]
    assert cos2 == pytest.approx(torch.tensor([3.0, 3.0 * 0.5]), abs=1e-4)


def test_objective_algebra():
    act = hand_made()
    a, b = channel("L", [1, 2]), neuron("L", [0, 2])
    assert (a + 0.5 * b)(act).tolist() == [8.5 + 2.0, 32.5 + 17.0]
    assert (a - b)(act).tolist() == [4.5, -1.5]
    assert (2 * a - a * 0.5)(act).tolist() == [8.5 * 1.5, 32.5 * 1.5]
    assert (-a / 2)(act).tolist() == [-4.25, -16.25]
    # indexing keeps every term's image: the objective of image 1 alone
    assert (a + 0.5 * b)[1](act[1:]).tolist() == [32.5 + 17.0]
    with pytest.raises(ValueError, match="different layers"):
        a + channel("other", [1, 2])
    with pytest.raises(ValueError, match="batch sizes"):
        a + channel("L", [1, 2, 0])
    with pytest.raises(ValueError, match="describes 2 images"):
        a(act[:1])
    with pytest.raises(ValueError, match="3 channels"):
        channel("L", [5, 0])(act)


def test_many_channel_objectives_are_one_expression():
    act = torch.randn(600, 800, 2, 2)
    obj = channel("L", range(600))
    expected = act[torch.arange(600), torch.arange(600)].mean(dim=(-2, -1))
    assert torch.allclose(obj(act), expected)
    # a Python sum of hundreds of objectives stays a flat list of terms: no recursion, one score per image
    total = sum((channel("L", [k] * 4) for k in range(1, 800)), channel("L", [0] * 4))
    assert len(total.terms) == 800
    assert torch.allclose(total(act[:4]), act[:4, :800].mean(dim=(-2, -1)).sum(dim=1), rtol=1e-4)


# ---- probe ---------------------------------------------------------------------------------------------------


def hooked(model, images, layer):
    """The output of ``model.layer(layer)`` during a full forward pass."""
    seen = {}
    handle = model.layer(layer).register_forward_hook(lambda m, i, o: seen.__setitem__("out", o.clone()))
    with torch.no_grad():
        model(images)
    handle.remove()
    return seen["out"]


@pytest.mark.parametrize("which, layer", [("tiny", "stage3"), ("tiny", "stage2"), ("two_branch", "emotion.stage2"),
                                          ("two_branch", "aesthetic.connector2"), ("two_branch", "emotion.stage4")])
def test_truncation_equals_a_hook_in_the_full_forward(which, layer, request):
    model = request.getfixturevalue(which)
    images = torch.randn(2, 3, 32, 32)
    expected = hooked(model, images, layer)
    assert torch.allclose(layer_activations(model, images, layer), expected, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(truncated(model, layer)(images), expected, atol=1e-6)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in input_normalization(model))
    pixels = torch.rand(2, 3, 32, 32)
    assert torch.allclose(layer_activations(model, pixels, layer, normalize=True),
                          hooked(model, (pixels - mean) / std, layer), atol=1e-5)


def test_googlenet_truncation_and_normalisation():
    torch.manual_seed(0)
    net = build_backbone("googlenet").eval()
    images = torch.randn(1, 3, 64, 64)
    assert torch.allclose(layer_activations(net, images, "4a"), hooked(net, images, "4a"), atol=1e-6)
    assert input_normalization(net) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_probed_layer_is_the_last_one_run(two_branch, monkeypatch):
    """Patching every later module to raise: probing and rendering still work, so nothing after the layer ran."""
    def boom(*args, **kwargs):
        raise AssertionError("a layer after the probed one ran")
    branch = two_branch.branches["aesthetic"]
    for index in (3, 4):
        monkeypatch.setattr(branch.stages[index], "forward", boom)
        monkeypatch.setattr(two_branch.branches["emotion"].stages[index], "forward", boom)
    for head in two_branch.heads.values():
        monkeypatch.setattr(head, "forward", boom)
    monkeypatch.setattr(two_branch.connectors["connector3"], "forward", boom)
    with pytest.raises(AssertionError, match="after the probed"):
        two_branch(torch.randn(1, 3, 32, 32))
    assert layer_activations(two_branch, torch.randn(1, 3, 32, 32), "aesthetic.stage3").shape == (1, 64, 4, 4)
    images = render(two_branch, channel("aesthetic.stage3", [0, 1]), RenderSettings(steps=2, size=32))
    assert images.shape == (2, 3, 32, 32)


def test_plain_modules_are_cut_at_a_named_submodule(monkeypatch):
    """A model without ``forward_until`` (any nn.Module): hooked at the submodule, the rest of the forward skipped."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 5, 3), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(5 * 12 * 12, 2)).eval()

    def boom(x):
        raise AssertionError("ran past the probed layer")

    images = torch.rand(2, 3, 16, 16)
    expected = net[:4](images)
    monkeypatch.setattr(net[5], "forward", boom)
    assert torch.allclose(layer_activations(net, images, "3"), expected)
    assert input_normalization(net) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # ImageNet by default
    assert render(net, channel("3", [1, 4]), RenderSettings(steps=2, size=16)).shape == (2, 3, 16, 16)


def test_unknown_layer_lists_the_known_ones(tiny):
    with pytest.raises(UnknownNameError, match="stage3"):
        render(tiny, channel("stage9", [0]), FAST)
    with pytest.raises(UnknownNameError):
        layer_activations(tiny, torch.rand(1, 3, 32, 32), "nope")


# ---- parameterisations and transforms ------------------------------------------------------------------------


def test_fourier_image_constants_and_seeding():
    image = FourierImage([0, 1, 2], 32, seed=5)
    pictures = image()
    assert pictures.shape == (3, 3, 32, 32) and pictures.min() > 0 and pictures.max() < 1
    assert image.spectrum.shape == (3, 3, 32, 17, 2)
    assert 0.008 < float(image.spectrum.detach().std()) < 0.012  # init sd 0.01
    # one generator per (seed, index): image 2 alone starts where image 2 of the batch does
    assert torch.equal(FourierImage([2], 32, seed=5).spectrum[0], image.spectrum[2])
    assert not torch.equal(FourierImage([2], 32, seed=6).spectrum[0], image.spectrum[2])


def test_fourier_upsampling_keeps_the_image():
    """The spectrum carries over: at the old pixel positions the upsampled image is the old one."""
    image = FourierImage(2, 32, seed=0, sd=0.3)
    bigger = image.resized(64)
    assert bigger.spectrum.shape == (2, 3, 64, 33, 2)
    logit = lambda p: torch.log(p / (1 - p))
    assert torch.allclose(logit(bigger())[..., ::2, ::2], logit(image()), atol=1e-4)


def test_pixel_image():
    image = PixelImage(4, 16, seed=0)
    assert 0.85 < float(image.pixels.detach().std()) < 1.15  # N(0, 1)
    assert torch.allclose(image(), torch.sigmoid(image.pixels))
    clamped = PixelImage(4, 16, seed=0, output="clamp")
    assert torch.equal(clamped(), image.pixels.clamp(0, 1))
    assert PixelImage(4, 16).resized(32)().shape == (4, 3, 32, 32)


def test_transforms_shapes_identity_and_independence():
    spec = TransformSpec()
    assert spec.output_size(128) == 140
    images = torch.rand(3, 3, 32, 32)
    # middle jitters (4, then 2), scale 1, angle 0: the image sits 12 − 4 − 2 = 6 px from the corner, unchanged
    centred = torch.tensor([[4.0, 4.0, 1.0, 0.0, 2.0, 2.0]] * 3)
    out = apply_transforms(images, centred, spec)
    assert out.shape == (3, 3, 44, 44)
    assert torch.allclose(out[..., 6:38, 6:38], images, atol=1e-5)
    assert torch.allclose(out[..., :6, :], torch.full_like(out[..., :6, :], 0.5))  # padding is 0.5 grey
    # the largest first jitter and no second one shift the image 8 px up and left: 12 − 8 = 4 px from the corner
    shifted = apply_transforms(images, torch.tensor([[8.0, 8.0, 1.0, 0.0, 0.0, 0.0]] * 3), spec)
    assert torch.allclose(shifted[..., 4:36, 4:36], images, atol=1e-5)
    # a 90° rotation (outside Lucid's range, but exact on the pixel grid) turns the image about the centre
    turned = apply_transforms(images, torch.tensor([[4.0, 4.0, 1.0, 90.0, 2.0, 2.0]] * 3), spec)
    assert torch.allclose(turned[..., 6:38, 6:38], torch.rot90(images, 1, dims=(-2, -1)), atol=1e-4) or \
        torch.allclose(turned[..., 6:38, 6:38], torch.rot90(images, -1, dims=(-2, -1)), atol=1e-4)
    draws = RandomTransforms([0, 1, 2], steps=5, seed=3)
    batch = draws(images, 2)
    for i in range(3):  # each image has its own draw, the same alone as in the batch
        alone = RandomTransforms([i], steps=5, seed=3)(images[i:i + 1], 2)
        assert torch.allclose(batch[i:i + 1], alone, atol=1e-6)
    assert not torch.allclose(batch[0], batch[1])
    scales, angles = draws.draws[..., 2], draws.draws[..., 3]
    assert scales.min() >= 0.9 - 1e-9 and scales.max() <= 1.1 + 1e-9 and angles.abs().max() <= 10


# ---- the renderer --------------------------------------------------------------------------------------------


def test_render_raises_the_targets_above_random_images(tiny, two_branch):
    cases = [(tiny, "stage3", [0, 5, 9]), (tiny, "stage4", [1, 2]), (two_branch, "emotion.stage3", [3, 7])]
    for model, layer, channels in cases:
        images = render(model, channel(layer, channels), FAST)
        assert images.shape == (len(channels), 3, 32, 32) and 0 <= images.min() and images.max() <= 1
        rendered = channel_means(model, images, layer, channels)
        noise = channel_means(model, torch.rand(len(channels), 3, 32, 32, generator=torch.Generator().manual_seed(0)),
                              layer, channels)
        grey = channel_means(model, torch.full((len(channels), 3, 32, 32), 0.5), layer, channels)
        assert (rendered > 2 * torch.maximum(noise, grey) + 0.1).all(), (layer, rendered, noise, grey)


def calibrated_googlenet() -> torch.nn.Module:
    """GoogLeNet with random weights (offline) and batch-norm statistics estimated on smooth random images: with
    the default statistics (mean 0, var 1) its activations shrink to ~1e-7 by block 4a."""
    torch.manual_seed(0)
    net = build_backbone("googlenet")
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for side in (4, 16, 64):
            net(F.interpolate(torch.randn(4, 3, side, side), size=64, mode="bilinear"))
    return net.eval()


def test_render_googlenet_4a():
    net = calibrated_googlenet()
    channels = [50, 150, 450]  # with random weights some channels barely respond in 24 steps; these do
    images = render(net, channel("4a", channels), RenderSettings(steps=24, size=64, lr=SHORT_LR))
    rendered = channel_means(net, images, "4a", channels)
    noise = channel_means(net, torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0)), "4a", channels)
    grey = channel_means(net, torch.full((3, 3, 64, 64), 0.5), "4a", channels)
    assert (rendered > 2 * torch.maximum(noise, grey) + 0.1).all(), (rendered, noise, grey)


def test_batch_rendering_equals_one_by_one(tiny):
    """Same seeds, same images, whatever the batching. Few steps: over many, Adam (which turns noise-level gradients
    into lr-sized steps) and ReLU switching amplify float rounding (batched convolutions sum in another order), so
    long runs drift apart pixel by pixel while reaching the same activations."""
    objective = channel("stage3", [4, 1, 7])
    settings = RenderSettings(steps=4, size=32)
    together = render(tiny, objective, settings)
    for i in range(3):
        alone = render(tiny, objective[i], settings, indices=[i])
        assert torch.allclose(alone[0], together[i], atol=1e-3), i
    in_pairs = render(tiny, objective, replace(settings, batch_size=2))
    assert torch.allclose(in_pairs, together, atol=1e-3)
    assert not torch.allclose(together[0], together[1], atol=0.05)  # the images do differ from each other


def test_render_is_deterministic_under_the_seed(tiny):
    objective = neuron("stage3", [0, 2]) + 0.5 * channel("stage3", [1, 1])
    settings = RenderSettings(steps=16, size=32)  # with the random transforms
    first = render(tiny, objective, settings)
    assert torch.equal(first, render(tiny, objective, settings))
    other = render(tiny, objective, replace(settings, seed=1))
    assert not torch.allclose(first, other, atol=1e-3)


def test_model_is_frozen_while_rendering_and_left_as_it_was(two_branch):
    two_branch.train()
    flags = [p.requires_grad for p in two_branch.parameters()]
    before = {k: v.clone() for k, v in two_branch.state_dict().items()}
    seen = []
    layer = two_branch.layer("aesthetic.stage2")
    handle = layer.register_forward_hook(lambda m, i, o: seen.append(
        (m.training, any(p.requires_grad for p in two_branch.parameters()), o.requires_grad)))
    render(two_branch, channel("aesthetic.stage2", [0]), RenderSettings(steps=3, size=32))
    handle.remove()
    # every forward pass in eval mode with no parameter asking for a gradient; the 3 steps carry the image's gradient
    assert all(s[:2] == (False, False) for s in seen) and sum(s[2] for s in seen) >= 3, seen
    assert two_branch.training and all(m.training for m in two_branch.modules())
    assert [p.requires_grad for p in two_branch.parameters()] == flags
    assert all(p.grad is None for p in two_branch.parameters())  # nothing accumulated
    assert all(torch.equal(before[k], v) for k, v in two_branch.state_dict().items())  # BN statistics untouched
    two_branch.eval()


def test_pixel_parameterisation_and_paper_procedure(tiny):
    channels = [0, 5]
    settings = paper_defaults(size=32, steps=20)
    assert settings.resolved_optimizer == "ascent" and not settings.transforms
    images = render(tiny, channel("stage3", channels), settings)
    start = torch.sigmoid(PixelImage(2, 32, seed=0).pixels)
    assert (channel_means(tiny, images, "stage3", channels) > channel_means(tiny, start, "stage3", channels)).all()
    adam = render(tiny, channel("stage3", channels), RenderSettings(steps=20, size=32, parameterization="pixel",
                                                                     optimizer="adam", pixel_output="clamp"))
    assert 0 <= adam.min() and adam.max() <= 1


def test_lucid_and_paper_defaults_and_bad_settings():
    lucid = lucid_defaults(size=64)
    assert (lucid.steps, lucid.lr, lucid.resolved_optimizer, lucid.schedule, lucid.transforms, lucid.size) == \
        (512, 0.05, "adam", "constant", True, 64)
    paper = paper_defaults()
    assert (paper.parameterization, paper.resolved_optimizer, paper.lr, paper.size) == ("pixel", "ascent", 0.05, 224)
    with pytest.raises(ConfigError, match=r"RenderSettings.parameterization: got 'wavelet', expected one of: fourier"):
        RenderSettings(parameterization="wavelet")
    with pytest.raises(ConfigError, match="RenderSettings.steps: got 0"):
        RenderSettings(steps=0)
    with pytest.raises(ConfigError, match="RenderSettings.optimizer: got 'adamw'.*did you mean 'adam'"):
        RenderSettings(optimizer="adamw")
    with pytest.raises(ConfigError, match="RenderSettings.schedule"):
        RenderSettings(schedule="step")
    with pytest.raises(ConfigError, match="RenderSettings.pixel_output"):
        RenderSettings(pixel_output="tanh")
    with pytest.raises(ConfigError, match="RenderSettings.lr: got -0.1"):
        RenderSettings(lr=-0.1)


def test_parameterisations_come_from_the_registry(tiny, monkeypatch):
    """A parameterisation is one registry entry: the renderer builds whatever the name maps to."""
    built = []

    class Grey(PixelImage):
        default_optimizer = "adam"

        @classmethod
        def build(cls, indices, settings):
            built.append(list(indices))
            return super().build(indices, settings)

    monkeypatch.setitem(PARAMETERIZATIONS, "grey", Grey)
    settings = RenderSettings(steps=2, size=16, parameterization="grey", transforms=False)
    assert settings.resolved_optimizer == "adam"
    assert render(tiny, channel("stage1", [0, 1]), settings).shape == (2, 3, 16, 16)
    assert built == [[0, 1]]


def test_step_rule_is_torch_optim_raising_the_score():
    """Adam (maximize) for Fourier, plain ascent X <- X + lr * dh/dX for pixels; the cosine schedule ends at
    lr * final_lr."""
    x = torch.nn.Parameter(torch.zeros(3))
    rule = StepRule([x], paper_defaults(lr=0.5))
    assert isinstance(rule.optimizer, torch.optim.SGD)
    x.grad = torch.tensor([1.0, -2.0, 0.0])
    rule.step()
    assert x.detach().tolist() == [0.5, -1.0, 0.0]
    y = torch.nn.Parameter(torch.zeros(2))
    cosine = StepRule([y], RenderSettings(steps=5, lr=0.2, schedule="cosine", final_lr=0.1))
    assert isinstance(cosine.optimizer, torch.optim.Adam)
    lrs = []
    for _ in range(5):
        lrs.append(cosine.lr)
        y.grad = torch.tensor([1.0, -1.0])
        cosine.step()
    assert lrs[0] == pytest.approx(0.2) and lrs[-1] == pytest.approx(0.02) and lrs == sorted(lrs, reverse=True)
    assert (y.detach() > 0).tolist() == [True, False]  # Adam moved each value up its own gradient


def test_transforms_and_cosine_schedule_render(tiny):
    channels = [5, 9]
    start = channel_means(tiny, FourierImage([0, 1], 32, seed=0)().detach(), "stage3", channels)
    with_transforms = render(tiny, channel("stage3", channels), RenderSettings(steps=24, size=32, lr=SHORT_LR))
    assert (channel_means(tiny, with_transforms, "stage3", channels) > 3 * start + 0.05).all()
    settings = replace(FAST, schedule="cosine")
    images = render(tiny, channel("stage3", channels), settings)
    assert (channel_means(tiny, images, "stage3", channels) > 3 * start + 0.05).all()
    alone = render(tiny, channel("stage3", channels)[1], settings, indices=[1])
    assert torch.allclose(alone[0], images[1], atol=1e-3)


def test_default_learning_rate_keeps_images_readable(tiny):
    """The default step is chosen for readability: hardly any clipped pixel, and smoother images than a step of 0.3
    (which climbs faster but clips a quarter to a half of the pixels), at an activation well above the start's."""
    channels = [0, 5, 9]
    settings = RenderSettings(steps=64, size=32, transforms=False)
    readable = render(tiny, channel("stage3", channels), settings)
    fast = render(tiny, channel("stage3", channels), replace(settings, lr=0.3))
    assert (clipped_share(readable) < 0.05).all() and (clipped_share(fast) > 0.2).all()
    assert (roughness(readable) < 0.6 * roughness(fast)).all()
    start = channel_means(tiny, FourierImage([0, 1, 2], 32, seed=0)().detach(), "stage3", channels)
    assert (channel_means(tiny, readable, "stage3", channels) > 2 * start + 0.05).all()


def test_redirected_relu_wakes_a_dead_channel():
    """A channel that is zero on every start image gets no gradient from a plain ReLU; Lucid's redirect moves it."""
    torch.manual_seed(0)
    model = build_backbone("tiny").eval()
    bn = model.stages[1].conv2[1]
    with torch.no_grad():
        bn.bias[3] = -50.0  # channel 3 of stage2 is dead on any image near grey
    settings = RenderSettings(steps=6, size=32, transforms=False)
    start = FourierImage([0], 32, seed=0)().detach()
    plain = render(model, channel("stage2", [3]), replace(settings, relu_redirect_steps=0))
    assert torch.allclose(plain, start, atol=1e-6)
    redirected = render(model, channel("stage2", [3]), settings)
    assert (redirected - start).abs().max() > 0.01


def test_render_channels_defaults_to_all(tiny):
    images = render_channels(tiny, "stage1", settings=RenderSettings(steps=2, size=16), progress=False)
    assert images.shape == (16, 3, 16, 16)
