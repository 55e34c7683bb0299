"""Two-branch soft-sharing models: one backbone per task joined by connectors at stage boundaries (docs/science.md §3).

Cross-stitch (Misra et al. 2016), cross-branch connections (patent CN109978074A), NDDR (Gao et al. 2019) and AFI
(paper 000) share this skeleton; they differ in the connector (:mod:`aelab.models.connectors`,
:mod:`aelab.models.afi`). The first task's branch is "A", the second's "E"; each task's head reads its own branch.

Probe names (forward order): for each stage ``k``, ``"<A task>.<probe>"`` and ``"<E task>.<probe>"`` for the
backbone's probes in stage ``k`` (a branch's own stage output, before the connector), then
``"<A task>.connector<k>"`` and ``"<E task>.connector<k>"`` when a connector follows stage ``k`` (1-based): that
connector's output for that branch, i.e. what enters the branch's next stage, or its head after the last stage.
``layer()`` of a connector probe is an ``nn.Identity`` the output passes through, so forward hooks and captum see
a single tensor. Where the connectors go by default: :func:`aelab.models.connectors.resolve_boundaries`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from aelab.errors import ConfigError
from aelab.models.backbones import Backbone
from aelab.models.heads import Head
from aelab.models.multitask import MultiTaskModel, probes_by_stage, run_stage_until, stage_of
from aelab.tasks import Task


class TwoBranchModel(MultiTaskModel):
    """Two same-architecture branches (``branches[A]``, ``branches[E]``) with ``connectors["connector<i>"]`` after
    stage ``i`` (1-based, 1 ≤ i ≤ n; after the last stage each head reads its branch's connector output).
    ``shared_parameters()``: all connector parameters except a learned AFI temperature (docs/science.md §4 choice for
    GradNorm on soft-sharing networks)."""

    def __init__(self, arch: str, tasks: Sequence[Task], branches: dict[str, Backbone],
                 connectors: dict[int, nn.Module], heads: dict[str, Head]):
        names = [t.name for t in tasks]
        if len(names) != 2 or list(branches) != names:
            raise ValueError(f"{arch} joins exactly two branches, one per task; got tasks {names}")
        first = branches[names[0]]
        super().__init__(tasks, first.name)
        self.arch = arch
        self.branches = nn.ModuleDict(branches)
        self.n_stages = len(first.stages)
        bad = [i for i in connectors if not 1 <= i <= self.n_stages]
        if bad:
            raise ConfigError(f"{arch} connector stages", bad, f"stage indices 1..{self.n_stages}")
        self.connectors = nn.ModuleDict({f"connector{i}": connectors[i] for i in sorted(connectors)})
        self.taps = nn.ModuleDict({key: nn.ModuleDict({t: nn.Identity() for t in names}) for key in self.connectors})
        self.heads = nn.ModuleDict(heads)

    # ---- forward -----------------------------------------------------------------------------------------

    def _advance(self, index: int, xa: torch.Tensor, xe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage ``index`` (0-based) of both branches, then the connector after it, if any."""
        a, e = self.task_names
        xa, xe = self.branches[a].stages[index](xa), self.branches[e].stages[index](xe)
        key = f"connector{index + 1}"
        if key in self.connectors:
            xa, xe = self.connectors[key](xa, xe)
            xa, xe = self.taps[key][a](xa), self.taps[key][e](xe)
        return xa, xe

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        xa = xe = images
        for index in range(self.n_stages):
            xa, xe = self._advance(index, xa, xe)
        a, e = self.task_names
        return {a: self.heads[a](xa), e: self.heads[e](xe)}

    # ---- probes ------------------------------------------------------------------------------------------

    def probe_layers(self) -> list[str]:
        a, e = self.task_names
        groups = {t: probes_by_stage(self.branches[t]) for t in (a, e)}
        names = []
        for k in range(self.n_stages):
            names += [f"{t}.{p}" for t in (a, e) for p in groups[t][k]]
            if f"connector{k + 1}" in self.connectors:
                names += [f"{t}.connector{k + 1}" for t in (a, e)]
        return names

    def layer(self, name: str) -> nn.Module:
        branch, rest = self._split_probe(name, self.task_names)
        if rest in self.taps:
            return self.taps[rest][branch]
        return self.branches[branch].layer(rest)

    def forward_until(self, images: torch.Tensor, name: str) -> torch.Tensor:
        """Both branches up to the stage before the probe's (connectors included), then that branch alone."""
        branch, rest = self._split_probe(name, self.task_names)
        a, _ = self.task_names
        if rest in self.taps:
            stop = int(rest.removeprefix("connector"))
        else:
            stop = stage_of(self.branches[branch], rest)
        xa = xe = images
        for index in range(stop):
            xa, xe = self._advance(index, xa, xe)
        x = xa if branch == a else xe
        return x if rest in self.taps else run_stage_until(self.branches[branch], stop, x, rest)

    # ---- optimisation ------------------------------------------------------------------------------------

    def connector_modules(self) -> list[nn.Module]:
        return list(self.connectors.values())

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for c in self.connectors.values() for n, p in c.named_parameters() if n != "temperature"]


class AFIModel(TwoBranchModel):
    """Two branches joined by AFI connectors (paper 000), with switchable gradient recalibration (eqs. 7–8)."""

    @property
    def recalibration_enabled(self) -> bool:
        return any(c.recalibration for c in self.connectors.values())

    def set_recalibration(self, enabled: bool, temperature: float = 1.0, learn_temperature: bool = False) -> None:
        """Switch gradient recalibration on every AFI connector (paper 000 eqs. 7–8; see
        :mod:`aelab.models.recalibration`); T is per connector, a parameter in group "connectors" when learned.
        Call before building the optimiser. ``build_options`` follows."""
        for connector in self.connectors.values():
            connector.set_recalibration(enabled, temperature, learn_temperature)
        self.build_options.update(recalibration=bool(enabled), temperature=float(temperature),
                                  learn_temperature=bool(learn_temperature))

    def last_rho(self) -> dict[str, dict[str, float]]:
        """``{"connector<i>": {task: ρ}}`` from the latest backward pass with recalibration on."""
        return {key: c.last_rho for key, c in self.connectors.items()}
