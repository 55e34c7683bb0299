"""Connectors between two same-shape branches at a stage boundary (docs/science.md §3), AENet's scalar fusion, where
the connectors go, and :data:`CONNECTORS`, the registry the two-branch architectures are built from.

The connector contract: ``forward(xa, xe) -> (xa, xe)``, ``xa`` from the first task's branch ("A"),
``xe`` from the second's ("E"), both ``(B, C, H, W)``; the outputs enter each branch's next stage (after the last
stage: the task heads). AENet's :class:`ScalarFusion` takes three streams. AFI lives in :mod:`aelab.models.afi`.

Placement (:func:`resolve_boundaries`). The papers place connectors per *block*, and a backbone's blocks are its
stages except the ``stem`` (ResNet50 / Wide-ResNet: ``layer1``..``layer4``; VGG16: ``conv1``..``conv5``; GoogLeNet:
the Inception blocks ``3a``..``5b``; tiny: every stage). Each architecture names its default placement in
:data:`PLACEMENTS`:

* ``"every_block"``: a connector after every block, the last one included, so the heads read the mixed final
  features. Paper 000 (Shen et al. 2022, §4.1) inserts AFI after each of ResNet's four blocks; its baselines
  cross-stitch and NDDR get the same positions (our choice: the paper does not place them); AENet (paper 003,
  §3.1) fuses "at the end of each block".
* ``"between_blocks"``: after blocks 1..n−1 only, each output entering the next block: the patent's cross-branch
  connection layers (CN109978074A: n stage groups, n−1 connection layers).

``"shallow"`` / ``"deep"`` are the first ⌊m/2⌋ / the remaining of the m default positions (ResNet with AFI:
``layer1, layer2`` / ``layer3, layer4``, paper 000's placement ablation).

A new connector is one :class:`ConnectorKind` in :data:`CONNECTORS`: its module, the options the architecture
offers, its default placement and the model class; ``aelab.models.registry.MODELS`` then offers an architecture of
the same name (``build_model("name", …)``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from aelab.errors import ConfigError
from aelab.models.afi import AFI
from aelab.models.backbones import Backbone
from aelab.models.twobranch import AFIModel, TwoBranchModel

STEM = "stem"
"""Name of the stage before a backbone's first block (ResNet's conv1..maxpool, GoogLeNet's conv1..maxpool2)."""

PLACEMENTS: dict[str, Callable[[list[int]], list[int]]] = {
    "every_block": lambda blocks: blocks,
    "between_blocks": lambda blocks: blocks[:-1],
}
"""Default connector positions of an architecture from its backbone's blocks (1-based stage indices)."""

SUBSETS: dict[str, Callable[[list[int]], list[int]]] = {
    "all": lambda positions: positions,
    "shallow": lambda positions: positions[:len(positions) // 2],
    "deep": lambda positions: positions[len(positions) // 2:],
}
"""Named ``stages`` values: which of the default positions get a connector."""


def block_stages(backbone: Backbone) -> list[int]:
    """1-based indices of ``backbone``'s blocks: every stage but the stem (see the module docstring)."""
    return [i for i, name in enumerate(backbone.stage_names, start=1) if name != STEM]


def resolve_boundaries(stages: str | Sequence[int | str], backbone: Backbone,
                       placement: str = "every_block") -> list[int]:
    """Sorted 1-based stage indices after which a connector goes.

    ``stages``: a key of :data:`SUBSETS` (``"all"``: the architecture's default ``placement``, a key of
    :data:`PLACEMENTS`; ``"shallow"`` / ``"deep"``: its first / second half), or stage names / 1-based indices
    (any stage, the stem and the last one included). A bad entry raises :class:`~aelab.errors.ConfigError`.
    """
    if placement not in PLACEMENTS:
        raise ConfigError("placement", placement, f"one of {', '.join(PLACEMENTS)}")
    if isinstance(stages, str) and stages in SUBSETS:
        return SUBSETS[stages](PLACEMENTS[placement](block_stages(backbone)))
    n = len(backbone.stage_names)
    if isinstance(stages, str) or not isinstance(stages, Sequence):
        stages = [stages]  # one name or index
    boundaries = []
    for s in stages:
        if isinstance(s, str) and s in backbone.stage_names:
            s = backbone.stage_names.index(s) + 1
        if not isinstance(s, int) or isinstance(s, bool) or not 1 <= s <= n:
            raise ConfigError("stages", s, f"{', '.join(map(repr, SUBSETS))}, or stage indices 1..{n} / names "
                                           f"{backbone.stage_names} of {backbone.name}")
        boundaries.append(s)
    return sorted(set(boundaries))


class CrossStitch(nn.Module):
    """Cross-stitch unit (Misra, Shrivastava, Gupta, Hebert, CVPR 2016, eq. 1; paper 000's CSNet baseline)::

        [x̃A; x̃E] = [[a_AA, a_AE], [a_EA, a_EE]] · [xA; xE]

    ``per_channel=True`` (default): one 2×2 matrix per channel, ``alpha`` of shape ``(2, 2, C)``; else one 2×2
    matrix of scalars. Initialised self 0.9 / other 0.1 (``alpha[0, 0] = a_AA``, ``alpha[0, 1] = a_AE`` …).
    """

    def __init__(self, channels: int, per_channel: bool = True, self_weight: float = 0.9, other_weight: float = 0.1):
        super().__init__()
        self.per_channel = per_channel
        matrix = torch.tensor([[self_weight, other_weight], [other_weight, self_weight]])
        if per_channel:
            matrix = matrix[:, :, None].repeat(1, 1, channels)
        self.alpha = nn.Parameter(matrix)

    def forward(self, xa: torch.Tensor, xe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.alpha[..., None, None] if self.per_channel else self.alpha
        return a[0, 0] * xa + a[0, 1] * xe, a[1, 0] * xa + a[1, 1] * xe


class CrossBranch(nn.Module):
    """Cross-branch connection layer (patent CN109978074A, claim 1; docs/science.md §3).

    The two branches' stage outputs are concatenated along channels (K → 2K) and fed to two separate 1×1
    convolutions (K filters, stride 1, padding 0, with bias), one per branch; each result enters that
    branch's next stage. Random (PyTorch default) initialisation, as the patent says. Each branch's conv
    reads ``[x_own, x_other]`` (own first): the same stack as the patent's up to a permutation of its input
    channels, so both convs have the same layout (used by :class:`NDDR`'s initialisation).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.convs = nn.ModuleDict({b: nn.Conv2d(2 * channels, channels, kernel_size=1, stride=1, padding=0)
                                    for b in ("a", "e")})

    def mix(self, xa: torch.Tensor, xe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two 1×1 convs' outputs."""
        return self.convs["a"](torch.cat([xa, xe], 1)), self.convs["e"](torch.cat([xe, xa], 1))

    def forward(self, xa: torch.Tensor, xe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mix(xa, xe)


class NDDR(CrossBranch):
    """NDDR layer (Gao, Ma, Zhao, Liu, Yuille, CVPR 2019, eq. 1–2; paper 000's baseline; docs/science.md §3).

    As :class:`CrossBranch`, then BatchNorm and ReLU after each 1×1 conv. Each conv's weight starts as
    ``[α·I, β·I]`` over ``[x_own, x_other]`` (α = 0.9, β = 0.1) and its bias at 0, so before BN it outputs
    ``0.9·x_own + 0.1·x_other``.
    """

    def __init__(self, channels: int, self_weight: float = 0.9, other_weight: float = 0.1):
        super().__init__(channels)
        eye = torch.eye(channels)
        with torch.no_grad():
            for conv in self.convs.values():
                conv.weight.copy_(torch.cat([self_weight * eye, other_weight * eye], 1)[:, :, None, None])
                conv.bias.zero_()
        self.norms = nn.ModuleDict({b: nn.BatchNorm2d(channels) for b in ("a", "e")})
        self.relu = nn.ReLU()

    def forward(self, xa: torch.Tensor, xe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ya, ye = self.mix(xa, xe)
        return self.relu(self.norms["a"](ya)), self.relu(self.norms["e"](ye))


class ScalarFusion(nn.Module):
    """AENet's fusion layer (Yu, Cui, Geng, Ma, Yin, ICIP 2019, §2; docs/science.md §3)::

        f̃a = αp·fa + αs·fs,   f̃e = βp·fe + βs·fs,   fs unchanged

    Four learned scalars, initialised αp = βp = 0.9 and αs = βs = 0.1 (trained with their own learning rate,
    1e-2 vs 1e-4 in the paper: they sit in the "connectors" parameter group).
    """

    def __init__(self, private_weight: float = 0.9, shared_weight: float = 0.1):
        super().__init__()
        self.alpha_p = nn.Parameter(torch.tensor(float(private_weight)))
        self.alpha_s = nn.Parameter(torch.tensor(float(shared_weight)))
        self.beta_p = nn.Parameter(torch.tensor(float(private_weight)))
        self.beta_s = nn.Parameter(torch.tensor(float(shared_weight)))

    def fuse_a(self, fa: torch.Tensor, fs: torch.Tensor) -> torch.Tensor:
        return self.alpha_p * fa + self.alpha_s * fs

    def fuse_e(self, fe: torch.Tensor, fs: torch.Tensor) -> torch.Tensor:
        return self.beta_p * fe + self.beta_s * fs

    def forward(self, fa: torch.Tensor, fe: torch.Tensor, fs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fuse_a(fa, fs), self.fuse_e(fe, fs)


@dataclass(frozen=True)
class ConnectorKind:
    """One kind of connector between two branches, as an architecture uses it.

    ``module``: called ``module(channels, **options)`` per connector position; ``options``: the keyword
    parameters of ``module`` the architecture offers (their defaults are the module's); ``placement``: what
    ``stages="all"`` means (a key of :data:`PLACEMENTS`); ``model``: the two-branch model class; ``task_names``:
    the keyword of ``module`` that receives the two task names, if it takes them.
    """

    module: Callable[..., nn.Module]
    options: tuple[str, ...] = ()
    placement: str = "every_block"
    model: type[TwoBranchModel] = TwoBranchModel
    task_names: str | None = None

    def defaults(self) -> dict[str, Any]:
        """``{option: default}`` of the offered options, read from ``module``'s signature."""
        parameters = inspect.signature(self.module).parameters
        return {name: parameters[name].default for name in self.options}

    def factory(self, task_names: Sequence[str], **options: Any) -> Callable[[int], nn.Module]:
        """``channels -> connector`` with ``options`` (and the task names where the module takes them)."""
        named = {self.task_names: tuple(task_names)} if self.task_names else {}
        return partial(self.module, **options, **named)


CONNECTORS: dict[str, ConnectorKind] = {
    # Misra et al. 2016; paper 000's CSNet baseline
    "cross_stitch": ConnectorKind(CrossStitch, options=("per_channel",)),
    # patent CN109978074A: n blocks, n−1 connection layers, each feeding the next block (VGG16: conv1..conv4)
    "cross_branch": ConnectorKind(CrossBranch, placement="between_blocks"),
    # Gao et al. 2019; paper 000's baseline
    "nddr": ConnectorKind(NDDR),
    # paper 000 (Shen et al. 2022), gradient recalibration (eqs. 7–8) optional
    "afi": ConnectorKind(AFI, options=("reduction", "pooling", "separate_directions", "recalibration", "temperature",
                                       "learn_temperature"), model=AFIModel, task_names="branch_names"),
}
"""Connector name → how the two-branch architecture of that name joins its branches."""

