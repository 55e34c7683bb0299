"""Connectors (docs/science.md §3): cross-stitch, cross-branch, NDDR, AFI, AENet's scalar fusion, and the heads."""

from __future__ import annotations

import pytest
import torch

from aelab.models import AFI, NDDR, CrossBranch, CrossStitch, Head, ScalarFusion, afi_parameter_count, build_model
from aelab.tasks import get_task


pytestmark = pytest.mark.usefixtures("one_thread")


def pair(c: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, c, 5, 4, generator=g), torch.randn(3, c, 5, 4, generator=g)


def test_cross_stitch_starts_at_09_01():
    xa, xe = pair(8)
    unit = CrossStitch(8)
    assert unit.alpha.shape == (2, 2, 8)
    torch.testing.assert_close(unit.alpha[:, :, 3], torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    ya, ye = unit(xa, xe)
    torch.testing.assert_close(ya, 0.9 * xa + 0.1 * xe)
    torch.testing.assert_close(ye, 0.1 * xa + 0.9 * xe)
    with torch.no_grad():  # per channel: channel 2's mixing changes only channel 2
        unit.alpha[0, 1, 2] = 0.5
    ya2, _ = unit(xa, xe)
    torch.testing.assert_close(ya2[:, 2], 0.9 * xa[:, 2] + 0.5 * xe[:, 2])
    torch.testing.assert_close(ya2[:, 3], ya[:, 3])
    scalar = CrossStitch(8, per_channel=False)
    assert scalar.alpha.shape == (2, 2)
    torch.testing.assert_close(scalar(xa, xe)[1], 0.1 * xa + 0.9 * xe)


def test_cross_branch_is_concat_and_two_1x1_convs():
    xa, xe = pair(6)
    layer = CrossBranch(6)
    for conv in layer.convs.values():
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == \
            (12, 6, (1, 1), (1, 1), (0, 0))
    ya, ye = layer(xa, xe)
    wa, ba = layer.convs["a"].weight[:, :, 0, 0], layer.convs["a"].bias
    expected = torch.einsum("oc,bchw->bohw", wa, torch.cat([xa, xe], 1)) + ba[:, None, None]
    torch.testing.assert_close(ya, expected)
    assert ye.shape == xe.shape and not torch.allclose(ya, ye)
    assert not torch.allclose(wa, layer.convs["e"].weight[:, :, 0, 0])  # random init, separate convs


def test_nddr_starts_as_09_identity_01_identity():
    xa, xe = pair(16)
    layer = NDDR(16)
    eye = torch.eye(16)
    for conv in layer.convs.values():
        torch.testing.assert_close(conv.weight[:, :, 0, 0], torch.cat([0.9 * eye, 0.1 * eye], 1))
        assert torch.count_nonzero(conv.bias) == 0
    ma, me = layer.mix(xa, xe)  # the conv outputs, before BN
    torch.testing.assert_close(ma, 0.9 * xa + 0.1 * xe)
    torch.testing.assert_close(me, 0.9 * xe + 0.1 * xa)
    layer.eval()  # fresh running stats: BN is the identity up to eps, then ReLU
    ya, ye = layer(xa, xe)
    torch.testing.assert_close(ya, torch.relu(ma / (1 + 1e-5) ** 0.5))
    layer.train()
    ya, _ = layer(xa, xe)
    assert (ya >= 0).all() and abs(float(ya.detach().mean())) > 0  # BN + ReLU after the conv


@pytest.mark.parametrize("pooling", ["both", "max", "avg"])
@pytest.mark.parametrize("separate", [False, True])
def test_afi_weights_sum_to_one_per_channel(pooling, separate):
    torch.manual_seed(0)
    afi = AFI(64, pooling=pooling, separate_directions=separate)
    xa, xe = pair(64)
    weights = afi.interaction_weights(xa, xe)
    for w_self, w_other in weights.values():
        assert w_self.shape == w_other.shape == (3, 64)
        torch.testing.assert_close(w_self + w_other, torch.ones(3, 64))
        assert ((w_self > 0) & (w_self < 1)).all()
        assert not torch.allclose(w_self[0], w_self[1])  # dynamic: depends on each sample's features
    assert torch.allclose(weights["a"][0], weights["e"][0]) != separate
    (sa, oa), (se, oe) = weights["a"], weights["e"]
    ya, ye = afi(xa, xe)  # eqs. 1 and 3
    torch.testing.assert_close(ya, sa[:, :, None, None] * xa + oa[:, :, None, None] * xe + xa)
    torch.testing.assert_close(ye, se[:, :, None, None] * xe + oe[:, :, None, None] * xa + xe)


def test_afi_weights_follow_eqs_4_to_6():
    """Recompute the max-pooling weights by hand from the module's parameters."""
    torch.manual_seed(1)
    afi = AFI(32, reduction=16, pooling="max")
    xa, xe = pair(32, seed=3)
    d = torch.cat([xa.amax((2, 3)), xe.amax((2, 3))], 1)  # (B, 2C)
    conv = afi.encoders["max"]
    l_max = torch.relu(d @ conv.weight[:, :, 0, 0].T + conv.bias)  # (B, 2C/r) = (B, 4)
    u, v = l_max @ afi.U["max"].weight.T, l_max @ afi.V["max"].weight.T
    w_self = torch.exp(u) / (torch.exp(u) + torch.exp(v))
    torch.testing.assert_close(afi.interaction_weights(xa, xe)["a"][0], w_self)


def test_afi_parameter_count():
    """C = 64, r = 16 → h = 8: two 1×1 convs 128 → 8 with bias (2 · 1032) + U, V for max and avg (4 · 64 · 8)."""
    def count(module):
        return sum(p.numel() for p in module.parameters())
    assert count(AFI(64)) == 2 * (128 * 8 + 8) + 4 * 64 * 8 == 4112 == afi_parameter_count(64)
    assert count(AFI(64, separate_directions=True)) == 2064 + 8 * 64 * 8 == 6160
    assert count(AFI(64, pooling="avg")) == (128 * 8 + 8) + 2 * 64 * 8 == 2056
    assert count(AFI(64, reduction=8)) == 2 * (128 * 16 + 16) + 4 * 64 * 16 == afi_parameter_count(64, 8)
    assert count(AFI(64, recalibration=True, learn_temperature=True)) == 4113
    assert count(AFI(64, recalibration=True)) == 4112  # a fixed T is a buffer


def test_aenet_fusion_and_heads_on_concatenations():
    torch.manual_seed(0)
    model = build_model("aenet", "tiny").eval()
    fusions = model.connector_modules()
    assert len(fusions) == 5  # after every block (tiny: every stage), the last one included
    for f in fusions:
        assert isinstance(f, ScalarFusion)
        assert [f.alpha_p.item(), f.alpha_s.item(), f.beta_p.item(), f.beta_s.item()] == pytest.approx([.9, .1, .9, .1])
    for task in ("aesthetic", "emotion"):
        assert model.heads[task].linear.in_features == 2 * 128
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        s = model.forward_until(x, "shared.stage5")
        a_raw = model.forward_until(x, "aesthetic.stage5")
        a = model.forward_until(x, "aesthetic.connector5")
        e = model.forward_until(x, "emotion.connector5")
        torch.testing.assert_close(a, 0.9 * a_raw + 0.1 * s)
        torch.testing.assert_close(out["aesthetic"], model.heads["aesthetic"](torch.cat([s, a], 1)))
        torch.testing.assert_close(out["emotion"], model.heads["emotion"](torch.cat([s, e], 1)))
    fl = build_model("aenet_fl", "tiny")
    assert fl.connector_modules() == [] and fl.heads["emotion"].linear.in_features == 256
    assert not any("connector" in p for p in fl.probe_layers())


def test_aenet_on_resnet50_fuses_at_the_end_of_each_block_not_after_the_stem():
    """Paper 003: a fusion layer at the end of each of ResNet50's blocks layer1..layer4; the heads read the last
    fusion's output next to the shared stream's."""
    torch.manual_seed(0)
    model = build_model("aenet", "resnet50").eval()
    assert list(model.fusions) == ["connector2", "connector3", "connector4", "connector5"]
    assert "aesthetic.connector1" not in model.probe_layers()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        fused = model.forward_until(x, "emotion.connector5")
        torch.testing.assert_close(fused, 0.9 * model.forward_until(x, "emotion.layer4")
                                   + 0.1 * model.forward_until(x, "shared.layer4"))
        shared = model.forward_until(x, "shared.layer4")
        torch.testing.assert_close(model(x)["emotion"], model.heads["emotion"](torch.cat([shared, fused], 1)))
    with_stem = build_model("aenet", "resnet50", stages=["stem", "layer1", "layer2", "layer3", "layer4"])
    assert list(with_stem.fusions) == [f"connector{i}" for i in range(1, 6)]


def test_heads_shapes_by_task_kind():
    x = torch.randn(4, 32, 3, 3)
    shapes = {name: Head(get_task(name), 32, dropout=0.5)(x).shape
              for name in ("aesthetic", "emotion", "style", "aesthetic_score", "sentiment")}
    assert shapes == {"aesthetic": (4,), "emotion": (4, 8), "style": (4, 14), "aesthetic_score": (4,),
                      "sentiment": (4,)}
    head = Head(get_task("emotion"), 32).eval()
    torch.testing.assert_close(head(x), head.linear(x.mean((2, 3))))  # global average pool → linear
