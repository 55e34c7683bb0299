"""build_model and the multi-task model contract (docs/science.md §3; the trainer's contract in
aelab.models.multitask)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from aelab.errors import ConfigError, UnknownNameError
from aelab.models import MODELS, build_model
from aelab.models.backbones import build_backbone
from aelab.models.connectors import resolve_boundaries
from aelab.tasks import Task
from aelab.train.gradients import probe_groups, task_gradient_norms

ARCHS = [arch for arch in MODELS if not arch.startswith(("aux", "mcn"))]  # own tests: test_aux_classifiers, test_mcn
TWO_BRANCH = ["cross_stitch", "cross_branch", "nddr", "afi"]
BACKBONES = ["tiny", "googlenet"]  # the tiny CPU net and one torchvision backbone (weights=None, 64 px)
FIRST_STAGE = {"tiny": "stage1", "googlenet": "stem"}
LAST_STAGE = {"tiny": "stage5", "googlenet": "5b"}


pytestmark = pytest.mark.usefixtures("one_thread", "offline")


_CACHE: dict[tuple[str, str], torch.nn.Module] = {}


def model_for(arch: str, backbone: str) -> torch.nn.Module:
    """One model per (arch, backbone), built once per session with a fixed seed."""
    if (arch, backbone) not in _CACHE:
        torch.manual_seed(0)
        _CACHE[arch, backbone] = build_model(arch, backbone)
    return _CACHE[arch, backbone]


def images(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def losses(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"aesthetic": F.binary_cross_entropy_with_logits(out["aesthetic"], torch.tensor([1.0, 0.0])),
            "emotion": F.cross_entropy(out["emotion"], torch.tensor([3, 5]))}


def grad_mass(params) -> float:
    return sum(float(p.grad.abs().sum()) for p in params if p.grad is not None)


def stage_params(model, branch: str, index: int) -> list[torch.nn.Parameter]:
    nets = model.streams if model.arch.startswith("aenet") else model.branches
    return list(nets[branch].stages[index].parameters())


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("arch", ARCHS)
def test_outputs_and_gradient_flow(arch, backbone):
    """Right keys and shapes; each task's loss reaches the other task's branch iff the architecture connects them."""
    model = model_for(arch, backbone).train()
    assert model.arch == arch and model.backbone_name == backbone
    assert [t.name for t in model.tasks] == ["aesthetic", "emotion"]
    out = model(images())
    assert list(out) == ["aesthetic", "emotion"]
    assert out["aesthetic"].shape == (2,) and out["emotion"].shape == (2, 8)
    per_task = losses(out)
    for task, other in (("aesthetic", "emotion"), ("emotion", "aesthetic")):
        model.zero_grad(set_to_none=True)
        per_task[task].backward(retain_graph=True)
        if arch == "share_split":
            assert grad_mass(model.trunk.stages[0].parameters()) > 0
            assert grad_mass(model.heads[other].parameters()) == 0
            continue
        own, across = stage_params(model, task, 0), stage_params(model, other, 0)
        assert grad_mass(own) > 0
        if arch == "single":
            assert grad_mass(across) == 0, "single-task baselines must not pass gradients between tasks"
        elif arch in TWO_BRANCH:
            assert grad_mass(across) > 0, f"{task} loss does not reach the {other} branch through the connectors"
            assert grad_mass(p for c in model.connector_modules() for p in c.parameters()) > 0
        else:  # AENet: the shared stream feeds both heads; the private streams only their own
            assert grad_mass(stage_params(model, "shared", 0)) > 0
            assert grad_mass(across) == 0
        assert grad_mass(model.heads[other].parameters()) == 0


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("arch", ARCHS)
def test_forward_until_matches_full_forward(arch, backbone):
    """Every probe: forward_until equals what layer(name) outputs inside one full forward pass."""
    model = model_for(arch, backbone).eval()
    probes = model.probe_layers()
    assert len(probes) == len(set(probes))
    branches = {"single": ["aesthetic", "emotion"], "share_split": ["shared"]}.get(
        arch, ["shared", "aesthetic", "emotion"] if arch.startswith("aenet") else ["aesthetic", "emotion"])
    assert {p.split(".")[0] for p in probes} == set(branches)
    for b in branches:
        assert f"{b}.{FIRST_STAGE[backbone]}" in probes and f"{b}.{LAST_STAGE[backbone]}" in probes
    n_connectors = len(model.connector_modules())
    assert sum(".connector" in p for p in probes) == (0 if arch in ("single", "share_split") else 2 * n_connectors)
    seen: dict[str, torch.Tensor] = {}
    handles = [model.layer(p).register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(p, o.clone()))
               for p in probes]
    x = images(1)
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for probe in probes:
            torch.testing.assert_close(model.forward_until(x, probe), seen[probe], msg=probe)
    with pytest.raises(UnknownNameError, match="probe layer"):
        model.forward_until(x, "nowhere.stage1")


def test_forward_until_runs_only_what_it_needs():
    """A first-stage probe runs one stage of one branch; a connector probe both branches up to it; AENet's shared
    probes skip the private streams."""
    afi, aenet = model_for("afi", "tiny"), model_for("aenet", "tiny")
    modules = {f"{t}.{i}": stage for t in afi.task_names for i, stage in enumerate(afi.branches[t].stages)}
    modules.update({k: c for k, c in afi.connectors.items()})
    modules.update({f"aenet.{s}.{i}": stage for s in aenet.streams for i, stage in enumerate(aenet.streams[s].stages)})
    calls: list[str] = []
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: calls.append(n)) for n, m in modules.items()]
    try:
        with torch.no_grad():
            afi.forward_until(images(1), "emotion.stage1")
            assert calls == ["emotion.0"]
            calls.clear()
            afi.forward_until(images(1), "aesthetic.connector2")
            assert calls == ["aesthetic.0", "emotion.0", "connector1", "aesthetic.1", "emotion.1", "connector2"]
            calls.clear()
            aenet.forward_until(images(1), "shared.stage3")
            assert calls == [f"aenet.shared.{i}" for i in range(3)]
    finally:
        for h in handles:
            h.remove()


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_groups_and_shared_parameters(arch):
    model = model_for(arch, "tiny")
    groups = model.parameter_groups(0.01, connector_lr=1.0)
    assert [g["name"] for g in groups] == ["main", "connectors"]
    assert [g["lr"] for g in groups] == [0.01, 1.0]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}
    connector_ids = {id(p) for c in model.connector_modules() for p in c.parameters()}
    assert {id(p) for p in groups[1]["params"]} == connector_ids
    assert model.parameter_groups(0.01)[1]["lr"] == 0.01
    shared = {id(p) for p in model.shared_parameters()}
    if arch == "single":
        assert not shared and not connector_ids
    elif arch == "share_split":
        assert shared == {id(p) for p in model.trunk.stages[-1].parameters()} and not connector_ids
    elif arch in TWO_BRANCH:  # tiny has no stem: every stage is a block; the patent's layers go between blocks
        blocks = len(model.branches["aesthetic"].stages)
        assert shared == connector_ids
        assert len(model.connector_modules()) == (blocks - 1 if arch == "cross_branch" else blocks)
    else:
        assert shared == {id(p) for p in model.streams["shared"].stages[-1].parameters()}
        blocks = len(model.streams["shared"].stages)
        assert len(connector_ids) == (4 * blocks if arch == "aenet" else 0)  # 4 scalars after each block
    torch.optim.SGD(groups, lr=0.01).step()  # the groups are accepted as they are


@pytest.mark.parametrize("arch", ARCHS)
def test_build_options_rebuild_the_model(arch):
    model = model_for(arch, "tiny")
    options = json.loads(json.dumps(model.build_options))
    assert options["arch"] == arch and options["backbone"] == "tiny"
    assert options["tasks"] == ["aesthetic", "emotion"]
    rebuilt = build_model(**options)
    assert type(rebuilt) is type(model) and rebuilt.arch == arch
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    rebuilt.load_state_dict(model.state_dict())


def test_options_change_the_model_and_are_recorded():
    m = build_model("afi", tasks=["aesthetic", "emotion"], stages="deep", reduction=8, pooling="max",
                    backbone_options={"widths": [8, 12, 16, 24, 32]})
    assert [c.channels for c in m.connector_modules()] == [16, 24, 32]  # the second half of the 5 blocks
    assert [c.pooling for c in m.connector_modules()] == ["max"] * 3
    assert m.build_options["stages"] == "deep" and m.build_options["backbone_options"]["widths"] == [8, 12, 16, 24, 32]
    assert len(build_model("cross_stitch", stages=[1, "stage3"]).connector_modules()) == 2
    assert len(build_model("nddr", stages="shallow").connector_modules()) == 2
    assert build_model("cross_stitch", per_channel=False).connector_modules()[0].alpha.shape == (2, 2)
    for bad in ([6], [0], ["layer9"], [True], 2.5):
        with pytest.raises(ConfigError, match=r"^stages: got .*stage indices 1\.\.5"):
            build_model("afi", stages=bad)


def test_any_number_of_tasks_for_single_and_share_split():
    tasks = ["aesthetic", "emotion", "style", "aesthetic_score"]
    x = images()
    for arch in ("single", "share_split"):
        out = build_model(arch, tasks=tasks)(x)
        assert {k: tuple(v.shape) for k, v in out.items()} == {
            "aesthetic": (2,), "emotion": (2, 8), "style": (2, 14), "aesthetic_score": (2,)}
    custom = Task("mood", "multiclass", ("calm", "tense", "sad"))
    model = build_model("single", tasks=[custom])
    assert model(x)["mood"].shape == (2, 3)
    assert build_model(**json.loads(json.dumps(model.build_options))).tasks == [custom]


def test_bad_names_and_task_counts():
    with pytest.raises(UnknownNameError, match="single, share_split, cross_stitch"):
        build_model("transformer")
    with pytest.raises(UnknownNameError, match="backbone"):
        build_model("afi", backbone="alexnet")
    with pytest.raises(UnknownNameError, match="reduction"):
        build_model("afi", reducton=8)
    for arch in [*TWO_BRANCH, "aenet", "aenet_fl"]:
        with pytest.raises(ValueError, match="exactly two tasks"):
            build_model(arch, tasks=["aesthetic", "emotion", "style"])
    with pytest.raises(ValueError, match="no CNN head"):
        build_model("single", tasks=["comments"])
    with pytest.raises(ValueError, match="vgg16"):
        build_model("afi", vgg_fc=True)


def test_vgg_fc_heads_read_fc7():
    """With vgg_fc the branch's fc6/fc7 move into the head, before the task's linear layer (patent CN109978074A)."""
    model = build_model("single", "vgg16", tasks=["aesthetic"], vgg_fc=True)
    head = model.heads["aesthetic"]
    assert head.linear.in_features == 4096 and head.features.fc6.in_features == 512 * 7 * 7
    assert model.branches["aesthetic"].classifier_layers is None
    seen = []
    head.features.fc7.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert model(images())["aesthetic"].shape == (2,) and seen == [(2, 4096)]


# ---- connector placement (paper 000 §4.1: AFI after every ResNet block; paper 003: fusion at the end of each block)


def connector_stages(model) -> list[str]:
    """The stage each connector / fusion follows, by name."""
    net = model.streams["shared"] if model.arch.startswith("aenet") else model.branches[model.task_names[0]]
    keys = model.fusions if model.arch.startswith("aenet") else model.connectors
    return [net.stage_names[int(key.removeprefix("connector")) - 1] for key in keys]


@pytest.fixture(scope="module")
def resnet_afi():
    torch.manual_seed(0)
    return build_model("afi", "resnet50").eval()  # weights=None: nothing downloaded


def test_afi_on_resnet50_connects_after_every_block(resnet_afi):
    assert connector_stages(resnet_afi) == ["layer1", "layer2", "layer3", "layer4"]
    assert [c.channels for c in resnet_afi.connector_modules()] == [256, 512, 1024, 2048]
    assert resnet_afi.probe_layers()[-2:] == ["aesthetic.connector5", "emotion.connector5"]
    assert connector_stages(build_model("afi", "resnet50", stages="shallow")) == ["layer1", "layer2"]
    assert connector_stages(build_model("afi", "resnet50", stages="deep")) == ["layer3", "layer4"]


@pytest.mark.parametrize("arch, backbone, expected", [
    ("nddr", "googlenet", ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]),
    ("cross_branch", "tiny", ["stage1", "stage2", "stage3", "stage4"]),  # the patent: n groups, n − 1 layers
    ("aenet", "googlenet", ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]),
])
def test_default_placement_follows_each_backbone_blocks(arch, backbone, expected):
    assert connector_stages(model_for(arch, backbone)) == expected


def test_vgg16_placement_every_conv_group_and_the_patent_between_them():
    vgg = build_backbone("vgg16", keep_classifier=False)
    assert resolve_boundaries("all", vgg) == [1, 2, 3, 4, 5]  # after conv1..conv5
    assert resolve_boundaries("all", vgg, "between_blocks") == [1, 2, 3, 4]  # cross-branch: conv1..conv4
    assert resolve_boundaries("deep", vgg, "between_blocks") == [3, 4]


def test_the_stem_and_the_last_stage_on_request():
    by_name = build_model("afi", "resnet50", stages=["stem", "layer4"])
    assert connector_stages(by_name) == ["stem", "layer4"]
    assert [c.channels for c in by_name.connector_modules()] == [64, 2048]
    assert connector_stages(build_model("cross_stitch", "resnet50", stages=[1, 5])) == ["stem", "layer4"]
    assert connector_stages(build_model("cross_branch", "tiny", stages="stage5")) == ["stage5"]
    assert connector_stages(build_model("aenet", "tiny", stages=["stage2"])) == ["stage2"]


def test_a_connector_after_the_last_stage_feeds_the_heads(resnet_afi):
    """The heads read the last connector's output (not the branch's own layer4), forward_until and layer() reach
    it, and its parameters are shared ones with a per-task gradient norm for the grad-ratio log."""
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    seen = {}
    hooks = [resnet_afi.heads[t].register_forward_hook(lambda m, i, o, t=t: seen.__setitem__(t, i[0]))
             for t in resnet_afi.task_names]
    try:
        with torch.no_grad():
            resnet_afi(x)
            for task in resnet_afi.task_names:
                mixed = resnet_afi.forward_until(x, f"{task}.connector5")
                torch.testing.assert_close(seen[task], mixed)
                assert not torch.allclose(mixed, resnet_afi.forward_until(x, f"{task}.layer4"))
    finally:
        for hook in hooks:
            hook.remove()
    last = resnet_afi.connectors["connector5"]
    assert resnet_afi.layer("emotion.connector5") is resnet_afi.taps["connector5"]["emotion"]
    assert {id(p) for p in last.parameters()} <= {id(p) for p in resnet_afi.shared_parameters()}
    groups = probe_groups(resnet_afi)
    assert list(groups) == ["connector2", "connector3", "connector4", "connector5"]
    norms = task_gradient_norms(losses(resnet_afi(x)), {"connector5": groups["connector5"]})
    assert norms["connector5"]["aesthetic"] > 0 and norms["connector5"]["emotion"] > 0
    with torch.no_grad():  # removing the last connector changes what the heads see
        without = build_model("afi", "resnet50", stages=["layer1", "layer2", "layer3"]).eval()
        without.load_state_dict(resnet_afi.state_dict(), strict=False)
        assert not torch.allclose(without(x)["emotion"], resnet_afi(x)["emotion"])
