"""Auxiliary classifiers at chosen probe layers (paper 004; docs/science.md §3 "Auxiliary classifiers").

Paper 004 fine-tunes GoogLeNet for sentiment, lets a person pick the Inception blocks whose neuron groups differ
most between positive and negative images (4a, 4b, 4d) and attaches a head to each: global average pool →
dropout → FC → softmax. With ``w`` = ``aux_weight`` (0.1 in the paper) and ``n`` heads for a task:

* training loss of the task: ``L_main + w · Σ_i L_aux_i``  (:meth:`AuxiliaryClassifiers.loss_terms`);
* prediction: the weighted sum ``p = (p_main + w · Σ_i p_aux_i) / (1 + w·n)`` of the heads' probabilities
  (softmax for multi-class, sigmoid per output for binary / multi-label; the weighted mean of the outputs for
  regression). The model returns it as logits (``log p`` for multi-class, ``logit p`` for binary /
  multi-label), so evaluation, prediction and Grad-CAM work unchanged.

The paper writes FC(→2) + softmax per head and an *unnormalised* weighted sum; this module uses one logit + sigmoid
for a two-class task and divides by ``1 + w·n``. Both give the same decisions, for these reasons:

1. *One logit is a two-way softmax.* ``σ(z) = softmax([0, z])₁``, and a layer FC(→2) with rows ``u₀, u₁`` (biases
   ``c₀, c₁``) gives ``softmax₁ = σ((u₁ − u₀)·x + c₁ − c₀)``: the two heads describe the same functions (FC(→2) has
   one redundant row) and BCE on ``z`` equals the two-way cross-entropy. What can differ is the trained weights,
   since the optimiser (and weight decay) see another parameterisation; the model family and loss do not.
2. *The normalisation moves no decision.* Multi-class: dividing every class's sum by the same positive number
   keeps the arg-max. Binary (and each multi-label output): the paper's two sums are ``s₁ = σ(z_main) + w·Σσ(z_i)``
   and ``s₀ = Σ (1 − σ) = (1 + w·n) − s₁``, so its arg-max picks class 1 exactly when ``s₁ > (1 + w·n)/2``, i.e.
   ``p > 0.5``, i.e. the returned logit ``> 0`` (the rule of :mod:`aelab.train.metrics`).

This holds when ``w ≥ 0`` (enforced), one ``w`` serves every head of the task (as here), each head's class
probabilities sum to one, and the decision is the arg-max / logit > 0. An exact tie (``p = 0.5``) goes to class 0
here; the paper does not say. The floor :data:`aelab.task_kinds.PROBABILITY_FLOOR` clamps ``p`` before the log:
it can merge only classes below it, never the top one (``max p ≥ 1/C``). The normalisation does change the
*numbers*: ``p`` is a probability (the paper's sum is not), so a loss or calibration measured on the combined output
differs from one on the raw sum, while rankings (AUC, SRCC) do not. Regression is not in the paper: the weighted mean
is our choice (an unnormalised sum would scale the score by ``1 + w·n``).

One mechanism for every architecture: the heads wrap any :class:`MultiTaskModel` (``base``). A head at a
layer of a task's own branch (``emotion.stage3`` of AFI) predicts that task; a head at a shared layer
(``shared.4a``) predicts every task (or those named in ``aux_tasks``). A head reads the layer's output, so its
gradient reaches only the layers below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from aelab.errors import UnknownNameError
from aelab.models.heads import Head
from aelab.models.multitask import MultiTaskModel
from aelab.task_kinds import kind_of
from aelab.tasks import Task

AUX_DROPOUT = 0.7  # as GoogLeNet's own auxiliary classifiers (Szegedy et al. 2015); paper 004 gives no value


def resolve_layer(name: str, probes: Sequence[str]) -> str:
    """A full probe name from ``name``: itself when it is one, else the unique probe ending in ``"." + name``
    (``"4a"`` → ``"shared.4a"``). Raises UnknownNameError listing the probes when none or several match."""
    if name in probes:
        return name
    matches = [p for p in probes if p.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UnknownNameError(f"layer (ambiguous: {name!r} matches {matches}; give the full name)", name, probes)
    raise UnknownNameError("probe layer for an auxiliary classifier", name, probes)


@dataclass(frozen=True)
class AuxSite:
    """One auxiliary head: the probe layer it reads, the task it predicts and its output key."""

    layer: str
    task: str

    @property
    def key(self) -> str:
        """Output key of the head's logits: ``"<task>@<layer>"``."""
        return f"{self.task}@{self.layer}"

    @property
    def module_name(self) -> str:
        return self.key.replace(".", "_").replace("@", "__")


def combine_predictions(task: Task, main: torch.Tensor, auxiliary: Sequence[torch.Tensor],
                        weight: float) -> torch.Tensor:
    """Paper 004's prediction: the ``weight``-weighted sum of the heads' probabilities, normalised, returned as
    logits of the task's kind (module docstring; each kind's ``combine`` in :data:`aelab.task_kinds.TASK_KINDS`).
    With no auxiliary head it is ``main`` itself."""
    if not auxiliary:
        return main
    return kind_of(task).combine(main, auxiliary, weight)


class AuxiliaryClassifiers(MultiTaskModel):
    """``base`` plus an auxiliary head per :class:`AuxSite`. Outputs: ``{task: combined prediction}``, and
    ``"<task>@main"`` (the base's own logits) and ``"<task>@<layer>"`` (each head's) for tasks that have heads.
    Probe layers, connectors and shared parameters are the base's."""

    arch = "aux"

    def __init__(self, base: MultiTaskModel, sites: Sequence[AuxSite], channels: dict[str, int],
                 weight: float = 0.1, dropout: float = AUX_DROPOUT):
        super().__init__(base.tasks, base.backbone_name)
        if weight < 0:
            raise ValueError(f"aux_weight must be non-negative, got {weight!r}")
        self.base = base
        self.heads = base.heads
        self.weight = float(weight)
        self.sites = list(sites)
        by_name = {t.name: t for t in base.tasks}
        self.aux_heads = nn.ModuleDict({s.module_name: Head(by_name[s.task], channels[s.layer], dropout)
                                        for s in self.sites})

    @property
    def aux_layers(self) -> list[str]:
        """The probe layers that carry a head, in forward order, each once."""
        return list(dict.fromkeys(s.layer for s in self.sites))

    def sites_of(self, task: str) -> list[AuxSite]:
        return [s for s in self.sites if s.task == task]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        captured: dict[str, torch.Tensor] = {}
        # hooks live only for this call: a deep copy or a pickled model carries none
        handles = [self.base.layer(layer).register_forward_hook(
            lambda module, inputs, output, layer=layer: captured.__setitem__(layer, output))
            for layer in self.aux_layers]
        try:
            outputs = self.base(images)
        finally:
            for handle in handles:
                handle.remove()
        result = dict(outputs)
        for task in self.tasks:
            sites = self.sites_of(task.name)
            if not sites:
                continue
            auxiliary = [self.aux_heads[s.module_name](captured[s.layer]) for s in sites]
            result[f"{task.name}@main"] = outputs[task.name]
            result.update({s.key: a for s, a in zip(sites, auxiliary)})
            result[task.name] = combine_predictions(task, outputs[task.name], auxiliary, self.weight)
        return result

    def loss_terms(self, task: str) -> list[tuple[str, float]]:
        """``(output key, weight)`` pairs whose weighted task losses make the task's training loss:
        the main head with 1 and each auxiliary head with ``aux_weight``."""
        sites = self.sites_of(task)
        if not sites:
            return [(task, 1.0)]
        return [(f"{task}@main", 1.0)] + [(s.key, self.weight) for s in sites]

    # ---- delegated to the base ------------------------------------------------------------------------
    def probe_layers(self) -> list[str]:
        return self.base.probe_layers()

    def layer(self, name: str) -> nn.Module:
        return self.base.layer(name)

    def forward_until(self, images: torch.Tensor, name: str) -> torch.Tensor:
        return self.base.forward_until(images, name)

    def connector_modules(self) -> list[nn.Module]:
        return self.base.connector_modules()

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.base.shared_parameters()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, aux_layers={self.aux_layers}, aux_weight={self.weight}"


def aux_sites(base: MultiTaskModel, layers: Sequence[str], tasks: Sequence[str] | None = None) -> list[AuxSite]:
    """The heads for ``layers`` (full or short probe names) of ``base``: a task branch's layer gets a head for
    that task, another (shared) layer one head per task (restricted to ``tasks`` when given)."""
    probes = base.probe_layers()
    names = base.task_names
    wanted = list(tasks) if tasks is not None else names
    for task in wanted:
        if task not in names:
            raise UnknownNameError("aux_tasks entry (a task of the model)", task, names)
    sites = []
    chosen = sorted({resolve_layer(name, probes) for name in layers}, key=probes.index)  # forward order
    for layer in chosen:
        branch = layer.partition(".")[0]
        for task in ([branch] if branch in names else names):
            if task in wanted:
                sites.append(AuxSite(layer, task))
    if layers and not sites:
        raise ValueError(f"aux_layers {list(layers)} give no head for aux_tasks {wanted}")
    return sites


@torch.no_grad()
def probe_channels(model: MultiTaskModel, layers: Sequence[str], side: int = 64) -> dict[str, int]:
    """Channel count of each probe layer, read from one forward pass of a small blank image."""
    was_training = model.training
    model.eval()
    try:
        blank = torch.zeros(1, 3, side, side)
        return {layer: int(model.forward_until(blank, layer).shape[1]) for layer in layers}
    finally:
        model.train(was_training)
