"""GradNorm (Chen, Badrinarayanan, Lee, Rabinovich 2018; docs/science.md §4 "GradNorm").

Learnable task weights ``w_t`` (initialised 1) are trained, alongside the model, to equalise the tasks'
gradient norms on the shared parameters W::

    G_t = ‖∇_W (w_t·L_t)‖₂ = w_t·‖∇_W L_t‖₂
    L̃_t = L_t / L_t(0),  r_t = L̃_t / mean_i L̃_i,  target_t = mean_i(G_i)·r_t^α   (a constant)
    L_grad = Σ_t |G_t − target_t|

and the model is trained on ``Σ_t w_t·L_t`` with ``w`` held constant. After each optimiser step the weights are
made positive and renormalised to ``Σ_t w_t = K`` (:meth:`after_step`). α = 1.5 by default.

**Shared parameters.** :meth:`attach` takes W from ``model.shared_parameters()``; the model decides what plays
the paper's "last shared layer" (hard sharing: the last shared stage; soft sharing, which has no shared layer:
the connector parameters, docs/science.md §4 choice). A model with none (the ``single`` baseline) is an error.

**How w gets its gradient.** ``‖∇_W L_t‖`` is computed with :func:`torch.autograd.grad` (no second-order graph
through the model is needed, since G_t is linear in w_t), so L_grad is a function of w alone. ``forward`` returns
``Σ w_t.detach()·L_t + (L_grad − L_grad.detach())``: its *value* is exactly the weighted sum, its gradient
w.r.t. the model is that of the weighted sum only, and its gradient w.r.t. w is ∂L_grad/∂w. So w.grad is filled
by the trainer's ``backward()``, like every other parameter, and stays correct under a ``GradScaler`` (AMP),
gradient accumulation or loss rescaling — writing ``w.grad`` by hand would not be unscaled consistently.

``L_t(0)`` is recorded per task at the first training call where that task's loss is positive (until then
``L̃_t = 1``, and the buffer holds 0, "not recorded": a finite value, so that a checkpoint taken before the
first step passes the trainer's finiteness check); the initial losses are a buffer and the weights a parameter,
so both are in ``state_dict()``.
In evaluation (``balancer.eval()`` or under ``torch.no_grad()``) forward only returns the weighted sum.
Under DDP (a process group of more than one process) each process's per-task gradients on W and its losses are
averaged over the processes before the norms are taken — the gradients and losses of the whole global batch, as
one process would see them — so every process computes the same ``L_grad`` and the weights stay one set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from aelab.tasks import Task
from aelab.train.balancing.base import Balancer

MIN_WEIGHT = 1e-6
"""Weights are clamped to at least this before renormalisation, so they stay positive."""


class GradNorm(Balancer):
    """GradNorm with asymmetry ``alpha``; the weights are the parameter ``task_weights`` (task order)."""

    name = "gradnorm"

    def __init__(self, tasks: Sequence[str | Task], alpha: float = 1.5):
        super().__init__(tasks)
        self.alpha = float(alpha)
        self.task_weights = nn.Parameter(torch.ones(self.num_tasks))
        self.register_buffer("initial_losses", torch.zeros(self.num_tasks))  # 0: not recorded yet
        self.shared: list[Tensor] = []  # the model's parameters: a plain list, not registered here
        self.last_grad_norms: Tensor | None = None  # G_t of the last training call, for logging and tests

    def attach(self, model: nn.Module) -> None:
        arch = getattr(model, "arch", type(model).__name__)
        getter = getattr(model, "shared_parameters", None)
        params = [p for p in getter() if p.requires_grad] if callable(getter) else []
        if not params:
            raise ValueError(
                f"balancer 'gradnorm' measures gradient norms on the shared parameters, but the model "
                f"(arch {arch!r}) has none (model.shared_parameters() is empty or missing); "
                f"pick another balancer: fixed, uncertainty or dwa"
            )
        self.shared = params

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        stacked = self.stack(losses)
        w = self.task_weights.to(stacked)
        total = (w.detach() * stacked).sum()
        if not (self.training and torch.is_grad_enabled() and stacked.requires_grad):
            return total
        if not self.shared:
            raise RuntimeError("GradNorm.attach(model) must be called before the first training step")

        grad_norms = w * self._gradient_norms(stacked)  # G_t; differentiable in w only

        with torch.no_grad():
            current = _process_mean(stacked.detach())
            initial = self.initial_losses.to(current)
            recorded = initial > 0  # False for 0 (and for the NaN older runs used)
            initial = torch.where(~recorded & (current > 0), current, initial)
            self.initial_losses.copy_(initial)
            relative = torch.where(initial > 0, current / initial, torch.ones_like(current))
            mean = relative.mean()
            rate = torch.where(mean > 0, relative / mean, torch.ones_like(relative))
            target = grad_norms.detach().mean() * rate.pow(self.alpha)

        grad_loss = (grad_norms - target).abs().sum()
        self.last_grad_norms = grad_norms.detach()
        return total + (grad_loss - grad_loss.detach())

    def _gradient_norms(self, stacked: Tensor) -> Tensor:
        """``‖∇_W L_t‖₂`` per task (detached), of the global batch's gradient under DDP."""
        if _world_size() > 1:
            return self._averaged_gradient_norms(stacked)
        norms = []
        for loss in stacked.unbind():
            squared = stacked.new_zeros(())
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, self.shared, retain_graph=True, allow_unused=True)
                for g in grads:
                    if g is not None:
                        squared = squared + g.detach().to(squared.dtype).pow(2).sum()
            norms.append(squared.sqrt())
        return torch.stack(norms)

    def _averaged_gradient_norms(self, stacked: Tensor) -> Tensor:
        """Norms of each task's gradient on W averaged over the processes (one all-reduce of ``K × |W|``)."""
        rows = []
        for loss in stacked.unbind():
            grads = [None] * len(self.shared)
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, self.shared, retain_graph=True, allow_unused=True)
            rows.append(torch.cat([(g.detach() if g is not None else torch.zeros_like(p)).float().flatten()
                                   for g, p in zip(grads, self.shared)]))
        return _process_mean(torch.stack(rows)).norm(dim=1).to(stacked.dtype)

    @torch.no_grad()
    def after_step(self) -> None:
        w = self.task_weights
        w.clamp_(min=MIN_WEIGHT)
        w.mul_(self.num_tasks / w.sum())

    def weights(self) -> dict[str, float]:
        return self.as_dict(self.task_weights)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}"


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _process_mean(tensor: Tensor) -> Tensor:
    """The mean of ``tensor`` over the processes of the default process group (itself with one process)."""
    world = _world_size()
    if world == 1:
        return tensor
    total = tensor.clone()
    dist.all_reduce(total)
    return total / world
