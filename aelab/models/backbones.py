"""Backbones cut into stages: torchvision's VGG16, ResNet50, GoogLeNet, Wide-ResNet-50-2, and a tiny CPU net.

docs/science.md §3: a backbone is a sequence of **stages**, the units at whose boundaries the branches of a
multi-task network talk (cross-stitch, cross-branch, NDDR, AFI, AENet fusion) and at which auxiliary
heads attach (paper 004). torchvision's models are reused, not re-typed: their modules are regrouped
into stages. docs/science.md §9 "Backbone" contract and "Offline by default": ``weights=None`` (the default)
never touches the network; see :mod:`aelab.models.weights`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torchvision import models as tvm

from aelab.data.normalization import IMAGENET_NORMALIZATION, Normalization
from aelab.errors import ConfigError, UnknownNameError, WeightsUnavailableError
from aelab.models.weights import WeightsSpec, load_strict, read_state_dict, torchvision_state_dict


class Backbone(nn.Module):
    """A CNN as an ordered list of named stages (docs/science.md §3), with named probe layers for ``aelab.viz``.

    A probe layer is a stage, or a child of a stage that is an ``nn.Sequential`` (e.g. ResNet ``layer3.0``,
    VGG ``conv4_3``); ``forward_until`` runs only the modules up to it.
    """

    def __init__(
        self,
        name: str,
        stages: dict[str, nn.Module],
        channels: list[int],
        reductions: list[int],
        *,
        input_size: int,
        normalization: Normalization = IMAGENET_NORMALIZATION,
        probes: dict[str, tuple[str, str | None]] | None = None,
        classifier_layers: nn.Module | None = None,
    ):
        super().__init__()
        if not len(stages) == len(channels) == len(reductions):
            raise ValueError(f"{name}: {len(stages)} stages, {len(channels)} channels, {len(reductions)} reductions")
        self.name = name
        self.stage_names = list(stages)
        self.stages = nn.ModuleList(stages.values())
        self.channels = list(channels)
        self.reductions = list(reductions)
        self.input_size = input_size
        self.normalization = normalization
        self.classifier_layers = classifier_layers
        probes = probes if probes is not None else {s: (s, None) for s in self.stage_names}
        self._probes: dict[str, tuple[int, str | None]] = {}
        for probe, (stage, child) in probes.items():
            index = self.stage_names.index(stage)
            if child is not None and not (isinstance(self.stages[index], nn.Sequential)
                                          and hasattr(self.stages[index], child)):
                raise ValueError(f"{name}: probe {probe!r} names no child {child!r} of sequential stage {stage!r}")
            self._probes[probe] = (index, child)

    @property
    def out_channels(self) -> int:
        """Channels of the last stage's output."""
        return self.channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map."""
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's output, in order."""
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def probe_layers(self) -> list[str]:
        """Names accepted by :meth:`forward_until` and :meth:`layer`, in forward order."""
        return list(self._probes)

    def layer(self, name: str) -> nn.Module:
        """The module whose output is probe layer ``name`` (for hooks, captum)."""
        index, child = self._probe(name)
        stage = self.stages[index]
        return stage if child is None else getattr(stage, child)

    def forward_until(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """The output of probe layer ``name``, running only the modules before it."""
        index, child = self._probe(name)
        for stage in self.stages[:index]:
            x = stage(x)
        if child is None:
            return self.stages[index](x)
        for module_name, module in self.stages[index].named_children():
            x = module(x)
            if module_name == child:
                return x
        raise AssertionError("unreachable: probe children are checked in __init__")

    def _probe(self, name: str) -> tuple[int, str | None]:
        if name not in self._probes:
            raise UnknownNameError(f"{self.name} probe layer", name, self.probe_layers())
        return self._probes[name]

    def extra_repr(self) -> str:
        return f"name={self.name!r}, stages={self.stage_names}, channels={self.channels}"


# ---- torchvision backbones ---------------------------------------------------------------------------


def _torchvision(arch: str, weights: WeightsSpec, drop: tuple[str, ...] = (), **kwargs) -> nn.Module:
    """torchvision's ``arch`` (1000 classes) with random init, or with the state dict ``weights`` names loaded strictly;
    keys starting with ``drop`` are discarded first."""
    state, source = torchvision_state_dict(arch, weights) if weights is not None else (None, "")
    model = tvm.get_model(arch, weights=None, **kwargs)
    if state is not None:
        load_strict(model, {k: v for k, v in state.items() if not k.startswith(drop)}, source, arch)
    return model


def _vgg16(weights: WeightsSpec = None, keep_classifier: bool = True) -> Backbone:
    """VGG16 as five conv groups ``conv1``..``conv5``, each ending in its max-pool (patent CN109978074A).

    ``classifier_layers`` keeps the pretrained fc6 and fc7 (avgpool to 7×7, flatten, fc6, ReLU, dropout,
    fc7, ReLU, dropout → 4096 features), which the patent's branches reuse; the 1000-way layer is dropped.
    Set ``keep_classifier=False`` when they are not used (they hold 120 M parameters, and unused
    parameters upset DDP). Probe layers: every conv (post-ReLU) ``conv1_1``..``conv5_3`` and every group.
    """
    model = _torchvision("vgg16", weights)
    layers = iter(model.features)
    stages: dict[str, nn.Module] = {}
    probes: dict[str, tuple[str, str | None]] = {}
    for g, n_convs in enumerate((2, 2, 3, 3, 3), start=1):
        group = OrderedDict((f"conv{g}_{k}", nn.Sequential(next(layers), next(layers))) for k in range(1, n_convs + 1))
        probes.update({conv: (f"conv{g}", conv) for conv in group})
        group[f"pool{g}"] = next(layers)
        stages[f"conv{g}"] = nn.Sequential(group)
        probes[f"conv{g}"] = (f"conv{g}", None)
    fc = model.classifier
    classifier = nn.Sequential(OrderedDict(
        avgpool=model.avgpool, flatten=nn.Flatten(1),
        fc6=fc[0], relu6=fc[1], drop6=fc[2], fc7=fc[3], relu7=fc[4], drop7=fc[5],
    )) if keep_classifier else None
    return Backbone("vgg16", stages, [64, 128, 256, 512, 512], [2, 4, 8, 16, 32],
                    input_size=224, probes=probes, classifier_layers=classifier)


def _resnet(arch: str, weights: WeightsSpec = None) -> Backbone:
    """ResNet50 / Wide-ResNet-50-2 as ``stem`` (conv1 bn1 relu maxpool) and ``layer1``..``layer4`` (AENet, paper 003;
    AFI, paper 000). Probe layers: every stage and every bottleneck block but the last of each layer
    (``layer3.0``..``layer3.4``; the last block's output is the stage's)."""
    model = _torchvision(arch, weights)
    stages: dict[str, nn.Module] = {
        "stem": nn.Sequential(OrderedDict(conv1=model.conv1, bn1=model.bn1, relu=model.relu, maxpool=model.maxpool))
    }
    probes: dict[str, tuple[str, str | None]] = {"stem": ("stem", None)}
    for i in range(1, 5):
        layer = stages[f"layer{i}"] = getattr(model, f"layer{i}")
        probes.update({f"layer{i}.{block}": (f"layer{i}", block) for block, _ in list(layer.named_children())[:-1]})
        probes[f"layer{i}"] = (f"layer{i}", None)
    channels = [64] + [stages[f"layer{i}"][-1].conv3.out_channels for i in range(1, 5)]
    return Backbone(arch, stages, channels, [4, 4, 8, 16, 32], input_size=224, probes=probes)


class _GoogLeNetInput(nn.Module):
    """torchvision's GoogLeNet input re-scaling (ImageNet-normalised → the [-1, 1] range its ported weights expect).

    ``GoogLeNet.forward`` applies it; calling the blocks one by one bypasses it, so the stem starts with this.
    """

    transform_input = True
    forward = tvm.GoogLeNet._transform_input  # reuse torchvision's code; it only reads self.transform_input


def _googlenet(weights: WeightsSpec = None, transform_input: bool | None = None) -> Backbone:
    """GoogLeNet (Inception v1) as ``stem`` (conv1..maxpool2) and one stage per Inception block ``3a``..``5b``,
    the max-pools before 4a and 5a folded into those stages (paper 004; at 224 px 4a–4e are 14×14).

    ``transform_input`` defaults to True when weights are loaded and False otherwise, as torchvision does
    for its pretrained GoogLeNet. Auxiliary classifiers are not built (their keys in a file are ignored).
    """
    transform = weights is not None if transform_input is None else transform_input
    model = _torchvision("googlenet", weights, drop=("aux1.", "aux2."), aux_logits=False, init_weights=weights is None)
    stem = OrderedDict(conv1=model.conv1, maxpool1=model.maxpool1, conv2=model.conv2, conv3=model.conv3,
                       maxpool2=model.maxpool2)
    if transform:
        stem = OrderedDict(transform_input=_GoogLeNetInput(), **stem)
    stages: dict[str, nn.Module] = {"stem": nn.Sequential(stem)}
    for block in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        stages[block] = getattr(model, f"inception{block}")
    stages["4a"] = nn.Sequential(OrderedDict(maxpool3=model.maxpool3, inception4a=stages["4a"]))
    stages["5a"] = nn.Sequential(OrderedDict(maxpool4=model.maxpool4, inception5a=stages["5a"]))
    return Backbone("googlenet", stages, [192, 256, 480, 512, 512, 512, 528, 832, 832, 1024],
                    [8, 8, 8, 16, 16, 16, 16, 16, 32, 32], input_size=224)


# ---- tiny CPU backbone -------------------------------------------------------------------------------


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class AddCoords(nn.Module):
    """Append two channels holding each pixel's x and y in [-1, 1] (CoordConv, Liu et al. 2018): with them a
    convolution can tell where in the frame it is, which global pooling would otherwise blur away."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        ys = torch.linspace(-1, 1, height, device=x.device, dtype=x.dtype).view(1, 1, height, 1).expand(n, 1, height, width)
        xs = torch.linspace(-1, 1, width, device=x.device, dtype=x.dtype).view(1, 1, 1, width).expand(n, 1, height, width)
        return torch.cat([x, xs, ys], dim=1)


def _tiny(
    weights: WeightsSpec = None,
    widths: tuple[int, ...] = (16, 32, 64, 96, 128),
    convs: tuple[int, ...] = (1, 2, 2, 2, 2),
    coords: tuple[int, ...] = (),
) -> Backbone:
    """A small CNN with the same shape as the papers' backbones, for CPUs (docs/science.md §9 "CPU first"): five stages
    ``stage1``..``stage5``, each ``convs[i]`` × (conv3×3-BN-ReLU) then a 2×2 max-pool; Kaiming init, so
    ``torch.manual_seed`` makes it reproducible. Input 64 px. ``weights`` may be a state dict file saved
    from a tiny backbone of the same widths; there are no ImageNet weights. ``coords`` lists the (1-based) stages
    whose first conv also sees the pixel coordinates (:class:`AddCoords`), so that where the subject sits
    (SynthAE's composition: thirds, centred, cramped, cut off) survives the heads' global pooling.
    """
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise WeightsUnavailableError(
            "the tiny backbone has no ImageNet weights: it is a small CPU network trained from scratch; "
            "use weights=None, a state dict file saved from a tiny backbone, or a torchvision backbone "
            f"({', '.join(n for n in BACKBONES if n != 'tiny')}) for weights='imagenet'"
        )
    if not len(widths) == len(convs):
        raise ValueError(f"tiny: {len(widths)} widths but {len(convs)} conv counts")
    stages: dict[str, nn.Module] = {}
    c_in = 3
    if not all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= len(widths) for c in coords):
        raise ConfigError("tiny backbone coords", list(coords), f"stage numbers 1..{len(widths)}")
    for i, (width, n) in enumerate(zip(widths, convs), start=1):
        extra = 2 if i in coords else 0
        blocks = OrderedDict((f"conv{k}", _conv_bn_relu(c_in + extra if k == 1 else width, width))
                             for k in range(1, n + 1))
        if extra:
            blocks = OrderedDict(coords=AddCoords(), **blocks)
        stages[f"stage{i}"] = nn.Sequential(OrderedDict(**blocks, pool=nn.MaxPool2d(2)))
        c_in = width
    backbone = Backbone("tiny", stages, list(widths), [2 ** i for i in range(1, len(widths) + 1)], input_size=64)
    for module in backbone.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if weights is not None:
        load_strict(backbone, read_state_dict(weights), f"weights file {weights}", "tiny")
    return backbone


# ---- registry ----------------------------------------------------------------------------------------

BACKBONES: dict[str, Callable[..., Backbone]] = {
    "vgg16": _vgg16,
    "resnet50": partial(_resnet, "resnet50"),
    "googlenet": _googlenet,
    "wide_resnet50_2": partial(_resnet, "wide_resnet50_2"),
    "tiny": _tiny,
}


def build_backbone(name: str, weights: str | os.PathLike | None = None, **options) -> Backbone:
    """The backbone registered as ``name`` (docs/science.md §3), cut into stages.

    ``weights``: None (random init; nothing is downloaded), ``"imagenet"`` (torchvision's IMAGENET1K_V1, the
    papers' weights; another torchvision entry name such as ``"IMAGENET1K_V2"`` also works) or the path of a
    .pt/.pth state dict of the torchvision model (of the backbone itself for ``tiny``). ``options`` go to the
    builder (``vgg16``: keep_classifier; ``googlenet``: transform_input; ``tiny``: widths, convs, coords).
    """
    if name not in BACKBONES:
        raise UnknownNameError("backbone", name, list(BACKBONES))
    return BACKBONES[name](weights=weights, **options)
