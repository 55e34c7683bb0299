"""Backbones cut into stages (docs/science.md §3) and their weight loading (docs/science.md §9 "Offline by default")."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision

from aelab.errors import UnknownNameError, WeightsUnavailableError
from aelab.models.backbones import BACKBONES, Backbone, build_backbone

NAMES = list(BACKBONES)
REAL_FETCH = torch.hub.load_state_dict_from_url
EXPECTED = {
    "vgg16": (["conv1", "conv2", "conv3", "conv4", "conv5"], [64, 128, 256, 512, 512]),
    "resnet50": (["stem", "layer1", "layer2", "layer3", "layer4"], [64, 256, 512, 1024, 2048]),
    "wide_resnet50_2": (["stem", "layer1", "layer2", "layer3", "layer4"], [64, 256, 512, 1024, 2048]),
    "googlenet": (["stem", "3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"],
                  [192, 256, 480, 512, 512, 512, 528, 832, 832, 1024]),
    "tiny": ([f"stage{i}" for i in range(1, 6)], [16, 32, 64, 96, 128]),
}


pytestmark = pytest.mark.usefixtures("offline")  # no download; torch.hub's cache is the test's own folder


@pytest.fixture(scope="module")
def built() -> dict[str, Backbone]:
    torch.manual_seed(0)
    return {name: build_backbone(name).eval() for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_stages_channels_and_shapes(built, name):
    backbone = built[name]
    stage_names, channels = EXPECTED[name]
    assert backbone.name == name
    assert backbone.stage_names == stage_names and len(backbone.stages) == len(stage_names)
    assert backbone.channels == channels and backbone.out_channels == channels[-1]
    assert backbone.input_size == (64 if name == "tiny" else 224)
    assert set(stage_names) <= set(backbone.probe_layers())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outputs = backbone.forward_stages(x)
        last = backbone(x)
    assert [o.shape for o in outputs] == [torch.Size([2, c, 64 // r, 64 // r])
                                          for c, r in zip(channels, backbone.reductions)]
    torch.testing.assert_close(last, outputs[-1])


@pytest.mark.parametrize("name", NAMES)
def test_every_probe_layer_matches_its_module_output(built, name):
    """forward_until(name) equals what layer(name) outputs inside a full forward pass."""
    backbone = built[name]
    seen: dict[str, torch.Tensor] = {}
    handles = [backbone.layer(p).register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(p, o.clone()))
               for p in backbone.probe_layers()]
    x = torch.randn(1, 3, 64, 64)
    try:
        with torch.no_grad():
            backbone.forward_stages(x)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for probe in backbone.probe_layers():
            torch.testing.assert_close(backbone.forward_until(x, probe), seen[probe], msg=probe)


def test_finer_probe_layers():
    assert {"conv4_3", "conv5_3"} <= set(build_backbone("vgg16", keep_classifier=False).probe_layers())
    resnet = build_backbone("resnet50")
    assert resnet.layer("layer3.0") is resnet.stages[3][0]
    with pytest.raises(UnknownNameError, match="layer3.0"):
        resnet.forward_until(torch.zeros(1, 3, 64, 64), "layer9")


def test_googlenet_4a_to_4e_are_14x14_at_224(built):
    backbone = built["googlenet"]
    with torch.no_grad():
        outputs = dict(zip(backbone.stage_names, backbone.forward_stages(torch.randn(1, 3, 224, 224))))
    for block, channels in zip(["4a", "4b", "4c", "4d", "4e"], [512, 512, 512, 528, 832]):
        assert outputs[block].shape == (1, channels, 14, 14)
    assert outputs["3b"].shape[-1] == 28 and outputs["5b"].shape[-1] == 7


@pytest.mark.parametrize("name,probe,later", [("tiny", "stage3", 3), ("resnet50", "layer3.0", 3)])
def test_forward_until_stops_early(built, name, probe, later):
    backbone = built[name]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = backbone.forward_stages(x)[2]  # tiny: stage3's output; resnet: layer2's, input of layer3.0
    calls = []
    first_of_next = backbone.stages[later] if name == "tiny" else backbone.stages[3][1]
    handles = [first_of_next.register_forward_pre_hook(lambda *_: calls.append("ran past")),
               backbone.stages[later + 1].register_forward_pre_hook(lambda *_: calls.append("ran past"))]
    try:
        with torch.no_grad():
            out = backbone.forward_until(x, probe)
    finally:
        for h in handles:
            h.remove()
    assert calls == []
    if name == "tiny":
        torch.testing.assert_close(out, expected)
    else:
        torch.testing.assert_close(out, backbone.stages[3][0](expected))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_the_first_stage(built, name):
    backbone = built[name].train()
    try:
        backbone.zero_grad()
        backbone(torch.randn(2, 3, 64, 64)).square().mean().backward()
        grads = [p.grad for p in backbone.stages[0].parameters()]
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    finally:
        backbone.zero_grad(set_to_none=True)
        backbone.eval()


def test_vgg_keeps_fc6_fc7_and_others_have_none(built):
    fc = built["vgg16"].classifier_layers
    with torch.no_grad():
        assert fc(torch.randn(2, 512, 2, 2)).shape == (2, 4096)
    assert [n for n in ("fc6", "fc7") if hasattr(fc, n)] == ["fc6", "fc7"]
    assert all(built[n].classifier_layers is None for n in NAMES if n != "vgg16")
    assert build_backbone("vgg16", keep_classifier=False).classifier_layers is None


def _expected_cache_file(arch: str) -> Path:
    url = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


@pytest.mark.parametrize("arch", ["vgg16", "resnet50", "googlenet", "wide_resnet50_2"])
def test_imagenet_offline_says_where_to_put_the_file(monkeypatch, tmp_path, arch):
    def no_network(url, *args, **kwargs):
        raise URLError("no network")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone(arch, weights="imagenet")
    message = str(info.value)
    target = _expected_cache_file(arch)
    assert str(target) in message and target.is_relative_to(tmp_path)
    assert torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url in message
    assert "TORCH_HOME" in message


def test_imagenet_file_at_the_advertised_path_is_used(monkeypatch):
    """The path in the offline message is where torch.hub finds the file; GoogLeNet's input transform is applied."""
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", REAL_FETCH)  # finds the file: no download
    torch.manual_seed(1)
    reference = torchvision.models.googlenet(aux_logits=True, transform_input=True, init_weights=True).eval()
    target = _expected_cache_file("googlenet")
    target.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), target)

    backbone = build_backbone("googlenet", weights="imagenet").eval()
    torch.testing.assert_close(backbone.layer("4a").inception4a.state_dict(), reference.inception4a.state_dict())
    seen = []
    reference.inception5b.register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        reference(x)
        torch.testing.assert_close(backbone(x), seen[0])


def test_imagenet_for_tiny_explains_there_are_none():
    with pytest.raises(WeightsUnavailableError, match="no ImageNet weights"):
        build_backbone("tiny", weights="imagenet")


def test_weights_from_a_state_dict_file(tmp_path):
    torch.manual_seed(2)
    reference = torchvision.models.googlenet(aux_logits=False, init_weights=True)
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    backbone = build_backbone("googlenet", weights=str(path))
    torch.testing.assert_close(backbone.layer("5b").state_dict(), reference.inception5b.state_dict())

    tiny = build_backbone("tiny")
    torch.save(tiny.state_dict(), tmp_path / "tiny.pt")
    torch.testing.assert_close(build_backbone("tiny", weights=tmp_path / "tiny.pt").state_dict(), tiny.state_dict())


def test_bad_weight_files_are_named(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="garbage.pth"):
        build_backbone("googlenet", weights=garbage)
    with pytest.raises(WeightsUnavailableError, match="absent.pth.*not found"):
        build_backbone("tiny", weights=tmp_path / "absent.pth")
    wrong = tmp_path / "tiny_weights.pt"
    torch.save(build_backbone("tiny").state_dict(), wrong)
    with pytest.raises(WeightsUnavailableError, match=r"tiny_weights.pt does not fit googlenet: missing keys"):
        build_backbone("googlenet", weights=wrong)
    with pytest.raises(WeightsUnavailableError, match="wrong shapes"):
        build_backbone("tiny", weights=wrong, widths=(8, 16, 32, 64, 128))


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="resnet50"):
        build_backbone("resnet5O")


def test_tiny_is_deterministic_under_a_seed():
    def build(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build_backbone("tiny").state_dict()
    first, again, other = build(0), build(0), build(1)
    torch.testing.assert_close(first, again)
    assert not torch.equal(first["stages.0.conv1.0.weight"], other["stages.0.conv1.0.weight"])
