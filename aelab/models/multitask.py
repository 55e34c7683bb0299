"""Multi-task models: the common contract, the single-task baseline and hard sharing (docs/science.md §3).

Every model maps a batch of images to ``{task name: logits}`` (shapes: :mod:`aelab.models.heads`) and names
its probe points ``"<branch>.<backbone probe>"`` for :mod:`aelab.viz`. Two-branch models (cross-stitch,
cross-branch, NDDR, AFI) are in :mod:`aelab.models.twobranch`, AENet in :mod:`aelab.models.aenet`; build
any of them with :func:`aelab.models.registry.build_model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from aelab.errors import UnknownNameError
from aelab.models.backbones import Backbone
from aelab.models.heads import Head
from aelab.tasks import Task


def unique_parameters(modules: Iterable[nn.Module]) -> list[nn.Parameter]:
    """The parameters of ``modules``, each once, in order."""
    seen: set[int] = set()
    params = []
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def stage_of(backbone: Backbone, probe: str) -> int:
    """Index of the stage holding probe layer ``probe`` (a stage, or a child of one)."""
    module = backbone.layer(probe)  # UnknownNameError for a bad name
    for index, stage in enumerate(backbone.stages):
        if module is stage or any(module is child for child in stage.children()):
            return index
    raise AssertionError(f"probe {probe!r} of {backbone.name} lies in no stage")


def run_stage_until(backbone: Backbone, index: int, x: torch.Tensor, probe: str) -> torch.Tensor:
    """Run stage ``index`` on ``x`` and return probe ``probe``'s output (the stage's, or one of its children's)."""
    stage, module = backbone.stages[index], backbone.layer(probe)
    if module is stage:
        return stage(x)
    for child in stage.children():
        x = child(x)
        if child is module:
            return x
    raise AssertionError(f"probe {probe!r} is no child of stage {index}")


def probes_by_stage(backbone: Backbone) -> list[list[str]]:
    """The backbone's probe names grouped by stage, in forward order."""
    groups: list[list[str]] = [[] for _ in backbone.stages]
    for probe in backbone.probe_layers():
        groups[stage_of(backbone, probe)].append(probe)
    return groups


class MultiTaskModel(nn.Module):
    """Base of every aelab multi-task model (the trainer's contract).

    Subclasses set ``heads`` (``nn.ModuleDict`` by task name) and implement ``forward``, ``probe_layers``,
    ``layer``, ``forward_until`` and, where they have them, ``connector_modules`` / ``shared_parameters``.
    ``build_options`` is filled by :func:`aelab.models.registry.build_model` (JSON/YAML-safe; passing it back
    as ``build_model(**model.build_options)`` rebuilds the same architecture).
    """

    arch: str = ""

    def __init__(self, tasks: Sequence[Task], backbone_name: str):
        super().__init__()
        self.tasks = list(tasks)
        self.backbone_name = backbone_name
        self.build_options: dict = {}
        self.heads = nn.ModuleDict()

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def connector_modules(self) -> list[nn.Module]:
        """Connector / fusion modules in stage order (empty when the model has none)."""
        return []

    def shared_parameters(self) -> list[nn.Parameter]:
        """GradNorm's "last shared layer" (docs/science.md §4); empty when nothing is shared."""
        return []

    def loss_terms(self, task: str) -> list[tuple[str, float]]:
        """``(output key, weight)`` pairs: the task's training loss is the weighted sum of its loss on each
        output (default: the task's own output; models with auxiliary heads add theirs)."""
        return [(task, 1.0)]

    def parameter_groups(self, lr: float, connector_lr: float | None = None) -> list[dict]:
        """``[{"name": "main", ...}, {"name": "connectors", ...}]`` for a torch optimiser: connector / fusion / AFI
        parameters (incl. a learned temperature) get ``connector_lr`` (default ``lr``), everything else ``lr``.
        Every parameter appears exactly once; the "connectors" group is present, possibly empty."""
        connectors = unique_parameters(self.connector_modules())
        ids = {id(p) for p in connectors}
        main = [p for p in self.parameters() if id(p) not in ids]
        return [{"name": "main", "params": main, "lr": lr},
                {"name": "connectors", "params": connectors, "lr": lr if connector_lr is None else connector_lr}]

    def _unknown_probe(self, name: str) -> UnknownNameError:
        return UnknownNameError(f"{self.arch} probe layer", name, self.probe_layers())

    def _split_probe(self, name: str, branches: Iterable[str]) -> tuple[str, str]:
        """``(branch, rest)`` of a name listed by ``probe_layers()``; UnknownNameError (listing them) otherwise."""
        branch, _, rest = name.partition(".")
        if branch not in set(branches) or name not in self.probe_layers():
            raise self._unknown_probe(name)
        return branch, rest

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, backbone={self.backbone_name!r}, tasks={self.task_names}"


class SingleTaskModels(MultiTaskModel):
    """Single-task baseline (docs/science.md §3; paper 000 Table 4 "single-task"): an independent backbone and head per
    task, so no gradient crosses between tasks. Any number of tasks. Probes ``"<task>.<backbone probe>"``."""

    arch = "single"

    def __init__(self, tasks: Sequence[Task], backbones: dict[str, Backbone], heads: dict[str, Head]):
        super().__init__(tasks, next(iter(backbones.values())).name)
        self.branches = nn.ModuleDict(backbones)
        self.heads = nn.ModuleDict(heads)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: self.heads[t](self.branches[t](images)) for t in self.task_names}

    def probe_layers(self) -> list[str]:
        return [f"{t}.{p}" for t in self.task_names for p in self.branches[t].probe_layers()]

    def layer(self, name: str) -> nn.Module:
        branch, probe = self._split_probe(name, self.task_names)
        return self.branches[branch].layer(probe)

    def forward_until(self, images: torch.Tensor, name: str) -> torch.Tensor:
        branch, probe = self._split_probe(name, self.task_names)
        return self.branches[branch].forward_until(images, probe)


class ShareSplit(MultiTaskModel):
    """Hard parameter sharing (SSNet / share-split; docs/science.md §3): one trunk shared by all tasks, split after the
    last stage into one head per task. Any number of tasks. Probes ``"shared.<backbone probe>"``.
    ``shared_parameters()``: the last shared stage (GradNorm's "last shared layer")."""

    arch = "share_split"

    def __init__(self, tasks: Sequence[Task], trunk: Backbone, heads: dict[str, Head]):
        super().__init__(tasks, trunk.name)
        self.trunk = trunk
        self.heads = nn.ModuleDict(heads)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.trunk(images)
        return {t: self.heads[t](features) for t in self.task_names}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.stages[-1].parameters())

    def probe_layers(self) -> list[str]:
        return [f"shared.{p}" for p in self.trunk.probe_layers()]

    def layer(self, name: str) -> nn.Module:
        return self.trunk.layer(self._split_probe(name, ["shared"])[1])

    def forward_until(self, images: torch.Tensor, name: str) -> torch.Tensor:
        return self.trunk.forward_until(images, self._split_probe(name, ["shared"])[1])
