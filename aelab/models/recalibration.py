"""Gradient recalibration (paper 000, Shen et al. 2022, §3.3, eqs. 7–8; docs/science.md §3).

At an AFI connector the stage output ``x`` of one branch is used twice: by the interaction path (the AFI
module: its descriptors and ``x̂ = w_self ⊙ x_own + w_other ⊙ x_other``) and by the residual shortcut
``x′ = x̂ + x``. Its gradient is the sum ``g = g_AFI + g_SC`` of the two. Recalibration rescales the interaction
part before summing (eq. 7) and then combines (eq. 8)::

    ρ = ‖g_AFI‖₂ / ‖g_SC‖₂
    g_AFI ← T / (log ρ + 1) · g_AFI   if ρ > 1,   unchanged otherwise
    g     = g_AFI + g_SC

Design. :func:`split` is an identity in the forward pass that returns *two* tensors equal to ``x``: the AFI
module reads the first, the shortcut the second. autograd calls a Function's backward once, with the
gradients of all its outputs, so both ``g_AFI`` and ``g_SC`` are available together there; the backward returns
the recalibrated sum as ``x``'s gradient. No module backward hooks are involved (they break on inplace ReLU).

Choices (docs/science.md §3 marks these as open):

* ``log`` is the natural logarithm; norms are over the whole tensor (the batch included), computed in at
  least float32 (under mixed precision too).
* When ``‖g_SC‖ = 0`` (the branch's own path carries no gradient, e.g. a loss of the other task alone
  reaching the last connector) ρ is infinite or undefined; there is nothing to calibrate against, so the
  gradient is left unchanged (``ρ`` is still recorded, as ``inf`` or ``nan``).
* The scale factor is treated as a constant in double backward (``create_graph=True``, e.g. GradNorm): the
  returned gradient is linear in ``g_AFI`` and ``g_SC`` with a detached coefficient.
* **Learned temperature.** The paper says T is "learned by the network" (citing Hinton et al.'s distillation
  temperature) and starts at 1.0, but T never enters the forward pass, so the training loss has no
  gradient with respect to it (T only shapes the backward pass; its effect on the loss is through later
  optimisation steps). Instead of pretending otherwise, a learned T (a per-connector ``nn.Parameter``)
  receives a **surrogate gradient** from this Function, chosen by us: the derivative of the negative
  alignment of the recalibrated interaction gradient with the shortcut gradient,
  ``J(T) = −⟨g_SC, s(T)·g_AFI⟩ / (‖g_SC‖‖g_AFI‖)`` with ``s(T) = T / (log ρ + 1)``, i.e.
  ``∂J/∂T = −cos(g_SC, g_AFI) / (log ρ + 1)`` when ρ > 1 and 0 otherwise (summed over both branches of the
  connector). The optimiser (group "connectors") then raises T while the other task's gradient agrees with
  the branch's own and lowers it while they conflict. ``T`` is clamped at 0 when used.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def recalibration_scale(g_afi: torch.Tensor, g_sc: torch.Tensor, temperature: torch.Tensor | float = 1.0
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s, ρ)``: the factor eq. 7 applies to ``g_AFI`` and the norm ratio ρ (detached scalars, at least float32).

    ``s = T / (log ρ + 1)`` where ρ > 1 and ``‖g_SC‖ > 0``, else 1.
    """
    dtype = torch.promote_types(torch.promote_types(g_afi.dtype, g_sc.dtype), torch.float32)  # fp16/bf16 → fp32
    n_afi = torch.linalg.vector_norm(g_afi.detach(), dtype=dtype)
    n_sc = torch.linalg.vector_norm(g_sc.detach(), dtype=dtype)
    rho = n_afi / n_sc
    t = torch.as_tensor(temperature, device=rho.device).detach().to(dtype).clamp(min=0.0)
    apply = _applies(rho)
    safe_rho = torch.where(apply, rho, torch.ones_like(rho))
    scale = torch.where(apply, t / (torch.log(safe_rho) + 1.0), torch.ones_like(rho))
    return scale, rho


def _applies(rho: torch.Tensor) -> torch.Tensor:
    """ρ > 1 and finite (an infinite or NaN ρ means ‖g_SC‖ = 0: left unchanged)."""
    return (rho > 1) & torch.isfinite(rho)


Recorder = Callable[[torch.Tensor, torch.Tensor], None]
"""Called from the backward pass with the detached ``(ρ, s)`` of one branch at one connector."""


class _RecalibrationSplit(torch.autograd.Function):
    """``x ↦ (x, x)``; backward: ``(g_AFI, g_SC) ↦ s·g_AFI + g_SC`` (eqs. 7–8), plus T's surrogate gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, temperature: torch.Tensor, record: Recorder | None):
        ctx.record = record
        ctx.save_for_backward(temperature)
        return x.view_as(x), x.view_as(x)

    @staticmethod
    def backward(ctx, g_afi: torch.Tensor, g_sc: torch.Tensor):
        (temperature,) = ctx.saved_tensors
        scale, rho = recalibration_scale(g_afi, g_sc, temperature)
        if ctx.record is not None:
            ctx.record(rho, scale)
        grad_x = g_afi * scale.to(g_afi.dtype) + g_sc
        grad_t = None
        if ctx.needs_input_grad[1]:
            applied = _applies(rho)
            a, b = g_afi.detach().float().flatten(), g_sc.detach().float().flatten()
            cosine = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-30)
            log_rho = torch.log(torch.where(applied, rho, torch.ones_like(rho)))
            grad_t = torch.where(applied, -cosine / (log_rho + 1.0), torch.zeros_like(cosine))
            grad_t = grad_t.to(temperature.dtype).reshape(temperature.shape)
        return grad_x, grad_t, None


def split(x: torch.Tensor, temperature: torch.Tensor, record: Recorder | None = None
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_for_interaction, x_for_shortcut)``, both equal to ``x``; their gradients are recalibrated and summed
    into ``x``'s (eqs. 7–8). ``temperature``: a scalar tensor (a parameter when learned: it then gets the
    surrogate gradient described in the module docstring). ``record(ρ, s)`` is called in backward."""
    if not torch.is_tensor(temperature):
        temperature = torch.tensor(float(temperature), device=x.device)
    return _RecalibrationSplit.apply(x, temperature, record)
