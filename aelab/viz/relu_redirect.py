"""Lucid's redirected ReLU gradient for the first steps of activation maximisation (Olah et al. 2017).

On a grey start image many units sit below zero: a plain ReLU passes them no gradient and their channel never
moves. Inside :class:`RedirectReLUs`, every ReLU (``F.relu``, ``nn.ReLU``, ``torch.relu_``, in place or not) keeps
its forward value but, for an image whose ordinary ReLU gradient is all zero, lets through the gradients that
would raise its negative inputs (Lucid's ``redirected_relu_grad``). The backward pass must carry the gradient of the
score being *raised* (``torch.optim`` with ``maximize=True``; a loss ``-score`` would flip which gradients pass).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


class RedirectedReLU(torch.autograd.Function):
    """ReLU forward; Lucid's redirected backward per image (the first dimension)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        relu_grad = torch.where(x > 0, grad, torch.zeros_like(grad))
        redirected = torch.where((x < 0) & (grad < 0), torch.zeros_like(grad), grad)
        if x.dim() < 2:
            return relu_grad
        alive = relu_grad.flatten(1).abs().amax(dim=1) > 0
        return torch.where(alive.view(-1, *([1] * (x.dim() - 1))), relu_grad, redirected)


_RELUS = {F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class RedirectReLUs(TorchFunctionMode):
    """Every ReLU called inside becomes :class:`RedirectedReLU` (its result is returned, not written in place)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELUS:
            return RedirectedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))
