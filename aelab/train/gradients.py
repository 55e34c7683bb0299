"""Per-task gradient norms at the connectors: the task imbalance that motivates gradient recalibration
(paper 000: emotion gradients ~10x the aesthetic ones early in training, 2-3x at the end)."""

from __future__ import annotations

import torch
from torch import nn


def probe_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Where to measure: each connector's parameters, keyed as in the model (``"connector<i>"``: after stage i)
    for two-branch and three-stream models, else the shared parameters (hard sharing), else nothing
    (independent single-task networks share no parameters)."""
    modules = model.connector_modules()
    keys = {id(m): name.rpartition(".")[2] for name, m in model.named_modules()}  # "connectors.connector5"
    connectors = {keys.get(id(m), f"connector{i}"): list(m.parameters()) for i, m in enumerate(modules, start=1)}
    if any(connectors.values()):
        return {name: params for name, params in connectors.items() if params}
    shared = list(model.shared_parameters())
    return {"shared": shared} if shared else {}


def task_gradient_norms(losses: dict[str, torch.Tensor],
                        groups: dict[str, list[nn.Parameter]]) -> dict[str, dict[str, float]]:
    """``{group: {task: ‖∂L_task/∂θ_group‖₂}}``, leaving the graph intact for the real backward pass."""
    params = [p for group in groups.values() for p in group]
    norms: dict[str, dict[str, float]] = {name: {} for name in groups}
    for task, loss in losses.items():
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        offset = 0
        for name, group in groups.items():
            squares = [g.detach().float().pow(2).sum() for g in grads[offset:offset + len(group)] if g is not None]
            norms[name][task] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
            offset += len(group)
    return norms
