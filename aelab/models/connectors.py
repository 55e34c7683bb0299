"""Connectors between two same-shape branches at a stage boundary (METHODS.md §3), AENet's scalar fusion, and
where the connectors go.

DESIGN.md "Connector" contract: ``forward(xa, xe) -> (xa, xe)``, ``xa`` from the first task's branch ("A"),
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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from aelab.errors import ConfigError
from aelab.models.backbones import Backbone

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
    """Cross-branch connection layer (patent CN109978074A, claim 1; METHODS.md §3).

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
    """NDDR layer (Gao, Ma, Zhao, Liu, Yuille, CVPR 2019, eq. 1–2; paper 000's baseline; METHODS.md §3).

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
    """AENet's fusion layer (Yu, Cui, Geng, Ma, Yin, ICIP 2019, §2; METHODS.md §3)::

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
