"""AFI, the adaptive feature interaction connector (paper 000, Shen et al. 2022, §3.1–3.2, eqs. 1–6;
docs/science.md §3),
with gradient recalibration (eqs. 7–8, :mod:`aelab.models.recalibration`) built in.
"""

from __future__ import annotations

import torch
from torch import nn

from aelab.models import recalibration

POOLINGS = {"both": ("max", "avg"), "max": ("max",), "avg": ("avg",)}


def afi_hidden(channels: int, reduction: int = 16) -> int:
    """Width ``h = max(1, ⌊2C / r⌋)`` of the guidance vectors ``l^max``, ``l^avg`` (eq. 5)."""
    return max(1, (2 * channels) // reduction)


def afi_parameter_count(channels: int, reduction: int = 16, pooling: str = "both",
                        separate_directions: bool = False, learn_temperature: bool = False) -> int:
    """Number of parameters of an :class:`AFI` (see its docstring): ``P·(2C·h + h) + P·D·2·C·h (+ 1)``."""
    h, p, d = afi_hidden(channels, reduction), len(POOLINGS[pooling]), 2 if separate_directions else 1
    return p * (2 * channels * h + h) + p * d * 2 * channels * h + int(learn_temperature)


class AFI(nn.Module):
    """Adaptive feature interaction between same-shape maps ``xA, xE ∈ R^{B×C×H×W}`` (paper 000, eqs. 1–6).

    1. descriptors per task (eq. 4): ``d^max(k) = max_{i,j} x(i,j,k)``, ``d^avg(k) = mean_{i,j} x(i,j,k)``;
    2. guidance (eq. 5): ``l^p = ReLU(conv1×1([dA^p, dE^p]))`` ∈ R^h for p ∈ {max, avg}, ``h = 2C/r`` (r = 16;
       ``h = max(1, ⌊2C/r⌋)``);
    3. weights (eq. 6): per channel k a two-way softmax ``(w_self^p(k), w_other^p(k)) = softmax(U^p(k,:)·l^p,
       V^p(k,:)·l^p)`` with ``U^p, V^p ∈ R^{C×h}``; the max and avg pairs are combined by their mean
       (see docs/science.md §8; keeps ``w_self + w_other = 1``, eq. 2). ``pooling="max"|"avg"`` keeps one (ablation);
    4. interaction (eq. 1): ``x̂A = w_self ⊙ xA + w_other ⊙ xE``, ``x̂E = w_self ⊙ xE + w_other ⊙ xA``, weights
       broadcast over H×W; ``separate_directions=True`` gives each direction its own ``U, V`` (an option,
       docs/science.md §8);
    5. residual (eq. 3): ``x′A = x̂A + xA``, ``x′E = x̂E + xE``.

    Parameters, with P poolings (2 for "both"), D directions (1, or 2 when separate) and h as above::

        P · (2C·h + h)      the 1×1 convs 2C → h, with bias, one per pooling
      + P · D · 2 · C·h     U and V (C × h each, no bias) per pooling and direction
      + 1                   only when the temperature T is learned

    e.g. C = 64, r = 16 (h = 8), both poolings, one direction: 2·(128·8 + 8) + 2·2·64·8 = 2064 + 2048 = 4112.

    Gradient recalibration (eqs. 7–8; off by default, see :meth:`set_recalibration`): each input is split by
    :func:`aelab.models.recalibration.split` into the copy the interaction path reads (descriptors and eq. 1)
    and the copy the shortcut of eq. 3 reads, so the backward pass sees ``g_AFI`` and ``g_SC`` of each branch
    separately and combines them as eq. 8 says. ``last_rho`` / ``last_scale``: ρ and the factor applied, per
    branch (named by ``branch_names``), from the latest backward pass. ``last_weights``: the latest
    ``(w_self, w_other)`` per direction, detached, each ``(B, C)``.
    """

    def __init__(self, channels: int, reduction: int = 16, pooling: str = "both", separate_directions: bool = False,
                 recalibration: bool = False, temperature: float = 1.0, learn_temperature: bool = False,
                 branch_names: tuple[str, str] = ("a", "e")):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"AFI pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if int(reduction) < 1:
            raise ValueError(f"AFI reduction must be a positive integer, got {reduction!r}")
        self.channels, self.reduction, self.pooling = channels, int(reduction), pooling
        self.separate_directions = bool(separate_directions)
        self.branch_names = tuple(branch_names)
        h = afi_hidden(channels, self.reduction)
        self.encoders = nn.ModuleDict({p: nn.Conv2d(2 * channels, h, kernel_size=1) for p in POOLINGS[pooling]})
        keys = [f"{p}_{d}" if self.separate_directions else p for p in POOLINGS[pooling] for d in ("a", "e")
                if self.separate_directions or d == "a"]
        self.U = nn.ModuleDict({k: nn.Linear(h, channels, bias=False) for k in keys})
        self.V = nn.ModuleDict({k: nn.Linear(h, channels, bias=False) for k in keys})
        self.last_weights: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._rho: dict[str, torch.Tensor] = {}
        self._scale: dict[str, torch.Tensor] = {}
        self.recalibration = False
        self.set_recalibration(recalibration, temperature, learn_temperature)

    # ---- recalibration switches -------------------------------------------------------------------------

    def set_recalibration(self, enabled: bool, temperature: float = 1.0, learn_temperature: bool = False) -> None:
        """Switch gradient recalibration on or off and (re)set T. T is an ``nn.Parameter`` (name ``temperature``)
        only when recalibration is on and ``learn_temperature`` is True, otherwise a buffer of the same name;
        call this before building the optimiser."""
        device = next(self.parameters()).device
        value = torch.tensor(float(temperature), device=device)
        if hasattr(self, "temperature"):
            delattr(self, "temperature")
        if enabled and learn_temperature:
            self.temperature = nn.Parameter(value)
        else:
            self.register_buffer("temperature", value)
        self.recalibration = bool(enabled)
        self.learn_temperature = bool(enabled and learn_temperature)

    @property
    def last_rho(self) -> dict[str, float]:
        """ρ = ‖g_AFI‖/‖g_SC‖ per branch at the latest backward pass (empty before one with recalibration on)."""
        return {self.branch_names[i]: float(self._rho[b]) for i, b in enumerate(("a", "e")) if b in self._rho}

    @property
    def last_scale(self) -> dict[str, float]:
        """The factor eq. 7 applied to g_AFI per branch at the latest backward pass (1 where ρ ≤ 1)."""
        return {self.branch_names[i]: float(self._scale[b]) for i, b in enumerate(("a", "e")) if b in self._scale}

    def _recorder(self, branch: str):
        def record(rho: torch.Tensor, scale: torch.Tensor) -> None:
            self._rho[branch], self._scale[branch] = rho, scale
        return record

    # ---- forward ------------------------------------------------------------------------------------------

    def interaction_weights(self, xa: torch.Tensor, xe: torch.Tensor
                            ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{"a": (w_self, w_other), "e": (w_self, w_other)}``, each ``(B, C)`` (eqs. 4–6); the two entries are
        the same pair unless ``separate_directions``."""
        pairs: dict[str, list[torch.Tensor]] = {"a": [], "e": []}
        for p, encoder in self.encoders.items():
            pool = (lambda x: x.amax(dim=(2, 3))) if p == "max" else (lambda x: x.mean(dim=(2, 3)))
            d = torch.cat([pool(xa), pool(xe)], 1)[:, :, None, None]
            guidance = torch.relu(encoder(d)).flatten(1)
            for direction in ("a", "e") if self.separate_directions else ("a",):
                key = f"{p}_{direction}" if self.separate_directions else p
                w = torch.stack([self.U[key](guidance), self.V[key](guidance)], -1).softmax(-1)
                pairs[direction].append(w)
        if not self.separate_directions:
            pairs["e"] = pairs["a"]
        weights = {}
        for direction, ws in pairs.items():
            w = torch.stack(ws).mean(0)
            weights[direction] = (w[..., 0], w[..., 1])
        return weights

    def forward(self, xa: torch.Tensor, xe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if xa.shape != xe.shape:
            raise ValueError(f"AFI needs same-shape inputs, got {tuple(xa.shape)} and {tuple(xe.shape)}")
        if self.recalibration and torch.is_grad_enabled():
            xa, xa_sc = recalibration.split(xa, self.temperature, self._recorder("a"))
            xe, xe_sc = recalibration.split(xe, self.temperature, self._recorder("e"))
        else:
            xa_sc, xe_sc = xa, xe
        weights = self.interaction_weights(xa, xe)
        (sa, oa), (se, oe) = weights["a"], weights["e"]
        self.last_weights = {d: (s.detach(), o.detach()) for d, (s, o) in weights.items()}
        hat_a = sa[:, :, None, None] * xa + oa[:, :, None, None] * xe
        hat_e = se[:, :, None, None] * xe + oe[:, :, None, None] * xa
        return hat_a + xa_sc, hat_e + xe_sc

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, reduction={self.reduction}, pooling={self.pooling!r}, "
                f"separate_directions={self.separate_directions}, recalibration={self.recalibration}, "
                f"learn_temperature={self.learn_temperature}")
