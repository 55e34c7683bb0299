"""AENet, the three-stream aesthetics–emotion network (paper 003: Yu, Cui, Geng, Ma, Yin, ICIP 2019;
docs/science.md §3).

Three same-architecture streams: A (first task, aesthetic), E (second task, emotion) and S (shared). At the end
of every block (paper 003, §3.1: "at the end of each block" of ResNet50)
:class:`~aelab.models.connectors.ScalarFusion` mixes the shared stream into the private ones:
``f̃a = αp·fa + αs·fs``, ``f̃e = βp·fe + βs·fs``, ``fs`` unchanged.

Placement (our reading, the same rule as paper 000's AFI, :mod:`aelab.models.connectors`): a block is a stage
other than the ``stem``, so ResNet50 / Wide-ResNet fuse after ``layer1``..``layer4`` (four fusion layers; not after
conv1 + max-pool), VGG16 after ``conv1``..``conv5``, GoogLeNet after each Inception block, tiny after every stage.
The last fusion is included: the heads read the fused ``f̃a`` / ``f̃e`` of the last block next to ``fs``.
``build_model("aenet", stages=...)`` picks other positions (e.g. ``["stem", "layer1", "layer2", "layer3",
"layer4"]`` to fuse after the stem too).

Heads read ``concat(S, A)`` (first task) and ``concat(S, E)`` (second task) along channels, so each head's linear
layer has ``2 × channels`` inputs. AENet-FL (ablation) has no fusion layers.

Probe names (forward order), per stage ``k``: ``"shared.<probe>"``, ``"<A task>.<probe>"``, ``"<E task>.<probe>"``
(each stream's own stage output, before fusion), then ``"<A task>.connector<k>"`` / ``"<E task>.connector<k>"``
(the fused ``f̃a`` / ``f̃e`` after stage ``k``, 1-based) when fusion is on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from aelab.errors import ConfigError
from aelab.models.backbones import Backbone
from aelab.models.connectors import ScalarFusion, resolve_boundaries
from aelab.models.heads import Head
from aelab.models.multitask import MultiTaskModel, probes_by_stage, run_stage_until, stage_of
from aelab.tasks import Task

SHARED = "shared"


class AENet(MultiTaskModel):
    """Streams ``streams["shared"]``, ``streams[A]``, ``streams[E]``; ``fusions["connector<i>"]`` after each stage
    ``i`` (1-based) of ``boundaries`` (default: every block) unless ``fusion=False`` (AENet-FL).
    ``shared_parameters()``: the shared stream's last stage."""

    def __init__(self, tasks: Sequence[Task], streams: dict[str, Backbone], heads: dict[str, Head],
                 fusion: bool = True, private_weight: float = 0.9, shared_weight: float = 0.1,
                 boundaries: Sequence[int] | None = None):
        names = [t.name for t in tasks]
        if len(names) != 2 or SHARED in names or list(streams) != [SHARED, *names]:
            raise ValueError(f"AENet has a shared stream and one stream per task for exactly two tasks not named "
                             f"{SHARED!r}; got tasks {names}")
        super().__init__(tasks, streams[SHARED].name)
        self.arch = "aenet" if fusion else "aenet_fl"
        self.streams = nn.ModuleDict(streams)
        self.n_stages = len(streams[SHARED].stages)
        if boundaries is None:
            boundaries = resolve_boundaries("all", streams[SHARED])
        bad = [i for i in boundaries if not 1 <= i <= self.n_stages]
        if bad:
            raise ConfigError("AENet fusion stages", bad, f"stage indices 1..{self.n_stages}")
        self.fusions = nn.ModuleDict({f"connector{i}": ScalarFusion(private_weight, shared_weight)
                                      for i in sorted(set(boundaries))} if fusion else {})
        self.taps = nn.ModuleDict({key: nn.ModuleDict({t: nn.Identity() for t in names}) for key in self.fusions})
        self.heads = nn.ModuleDict(heads)

    def _advance(self, index: int, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Stage ``index`` of the streams in ``x`` (the shared one among them), then the fusion after it."""
        x = {s: self.streams[s].stages[index](v) for s, v in x.items()}
        key = f"connector{index + 1}"
        if key in self.fusions:
            fusion, (a, e) = self.fusions[key], self.task_names
            if a in x:
                x[a] = self.taps[key][a](fusion.fuse_a(x[a], x[SHARED]))
            if e in x:
                x[e] = self.taps[key][e](fusion.fuse_e(x[e], x[SHARED]))
        return x

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = {s: images for s in self.streams}
        for index in range(self.n_stages):
            x = self._advance(index, x)
        return {t: self.heads[t](torch.cat([x[SHARED], x[t]], 1)) for t in self.task_names}

    def probe_layers(self) -> list[str]:
        groups = {s: probes_by_stage(self.streams[s]) for s in self.streams}
        names = []
        for k in range(self.n_stages):
            names += [f"{s}.{p}" for s in self.streams for p in groups[s][k]]
            if f"connector{k + 1}" in self.fusions:
                names += [f"{t}.connector{k + 1}" for t in self.task_names]
        return names

    def layer(self, name: str) -> nn.Module:
        stream, rest = self._split_probe(name, self.streams)
        return self.taps[rest][stream] if rest in self.taps else self.streams[stream].layer(rest)

    def forward_until(self, images: torch.Tensor, name: str) -> torch.Tensor:
        """Only the streams needed: the shared one alone for its probes, the shared one and the probed one else."""
        stream, rest = self._split_probe(name, self.streams)
        stop = int(rest.removeprefix("connector")) if rest in self.taps else stage_of(self.streams[stream], rest)
        x = {s: images for s in {SHARED, stream}}
        for index in range(stop):
            x = self._advance(index, x)
        return x[stream] if rest in self.taps else run_stage_until(self.streams[stream], stop, x[stream], rest)

    def connector_modules(self) -> list[nn.Module]:
        return list(self.fusions.values())

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.streams[SHARED].stages[-1].parameters())
