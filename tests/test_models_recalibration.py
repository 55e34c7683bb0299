"""Gradient recalibration (paper 000, eqs. 7–8; aelab.models.recalibration) and its switch on AFI models."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from aelab.models import build_model
from aelab.models.recalibration import recalibration_scale, split


pytestmark = pytest.mark.usefixtures("one_thread")


def known_grads(rho: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream gradients (g_AFI, g_SC) with ‖g_AFI‖ / ‖g_SC‖ = rho exactly."""
    g = torch.Generator().manual_seed(seed)
    g_afi, g_sc = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64), \
        torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
    return g_afi * (rho * g_sc.norm() / g_afi.norm()), g_sc


def backward_through_split(g_afi, g_sc, temperature):
    """x.grad when the interaction copy receives g_AFI and the shortcut copy g_SC."""
    x = torch.randn_like(g_afi, requires_grad=True)
    seen = []
    x_afi, x_sc = split(x, temperature, lambda rho, scale: seen.append((float(rho), float(scale))))
    torch.testing.assert_close(x_afi, x)
    torch.testing.assert_close(x_sc, x)
    ((x_afi * g_afi).sum() + (x_sc * g_sc).sum()).backward()
    return x.grad, seen


@pytest.mark.parametrize("rho", [0.3, 1.0])
def test_unchanged_when_rho_at_most_one(rho):
    g_afi, g_sc = known_grads(rho)
    grad, seen = backward_through_split(g_afi, g_sc, torch.tensor(0.5))
    torch.testing.assert_close(grad, g_afi + g_sc)
    assert seen[0][0] == pytest.approx(rho) and seen[0][1] == 1.0


@pytest.mark.parametrize("rho, temperature", [(1.5, 1.0), (10.0, 1.0), (10.0, 0.7), (250.0, 2.0)])
def test_rescaled_by_t_over_log_rho_plus_one(rho, temperature):
    g_afi, g_sc = known_grads(rho, seed=1)
    grad, seen = backward_through_split(g_afi, g_sc, torch.tensor(temperature))
    factor = temperature / (math.log(rho) + 1.0)  # by hand, eq. 7
    torch.testing.assert_close(grad, factor * g_afi + g_sc)  # eq. 8
    assert seen[0] == pytest.approx((rho, factor))
    assert recalibration_scale(g_afi, g_sc, temperature)[0].item() == pytest.approx(factor)


def test_zero_shortcut_gradient_leaves_it_unchanged():
    g_afi, g_sc = known_grads(2.0)
    grad, seen = backward_through_split(g_afi, torch.zeros_like(g_sc), torch.tensor(1.0))
    torch.testing.assert_close(grad, g_afi)
    assert seen[0][0] == math.inf and seen[0][1] == 1.0


def test_learned_temperature_gets_the_documented_surrogate_gradient():
    """∂J/∂T = −cos(g_SC, g_AFI) / (log ρ + 1) when ρ > 1, else 0 (aelab.models.recalibration docstring)."""
    for rho in (4.0, 0.5):
        g_afi, g_sc = known_grads(rho, seed=2)
        g_afi = g_afi + 3.0 * g_sc * (g_afi.norm() / g_sc.norm())  # make them correlated: cos > 0
        rho = float(g_afi.norm() / g_sc.norm())
        t = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
        backward_through_split(g_afi, g_sc, t)
        cos = float((g_afi * g_sc).sum() / (g_afi.norm() * g_sc.norm()))
        expected = -cos / (math.log(rho) + 1.0) if rho > 1 else 0.0
        assert float(t.grad) == pytest.approx(expected)
        assert (float(t.grad) < 0) == (rho > 1)  # agreeing gradients raise T under gradient descent


def assert_close_to_scale(actual: torch.Tensor, expected: torch.Tensor, msg: str) -> None:
    """Equal up to float32 round-off relative to the tensor's largest entry (sums of large, cancelling terms)."""
    error, size = float((actual - expected).abs().max()), float(expected.abs().max())
    assert error <= 1e-5 * size + 1e-8, f"{msg}: max error {error:.3g} for entries up to {size:.3g}"


def _run(model, x, emotion_weight: float):
    model.zero_grad(set_to_none=True)
    out = model(x)
    loss = F.binary_cross_entropy_with_logits(out["aesthetic"], torch.tensor([1.0, 0.0])) \
        + emotion_weight * F.cross_entropy(out["emotion"], torch.tensor([2, 6]))
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, out


def test_model_gradients_change_only_where_rho_exceeds_one():
    """One AFI connector after stage 3. Without recalibration the gradient reaching a branch's stage-3 output is
    g_AFI + g_SC; with T = 0 and ρ > 1 it is g_SC alone; with T = 1 it must be s·g_AFI + g_SC, s = 1/(log ρ + 1),
    so every upstream gradient is predicted exactly by linearity from the other two runs."""
    torch.manual_seed(0)
    plain = build_model("afi", "tiny", stages=[3])
    recal, zero_t = copy.deepcopy(plain), copy.deepcopy(plain)
    recal.set_recalibration(True, temperature=1.0)
    zero_t.set_recalibration(True, temperature=0.0)
    assert recal.recalibration_enabled and not plain.recalibration_enabled
    x = torch.randn(2, 3, 64, 64)
    connector = recal.connector_modules()[0]

    # aesthetic loss only: ρ_A ≤ 1 (w_self < 1 and no emotion gradient), ρ_E = ∞ (no own-branch gradient)
    g_plain, out_plain = _run(plain, x, 0.0)
    g_recal, out_recal = _run(recal, x, 0.0)
    rho = connector.last_rho
    assert rho["aesthetic"] <= 1 and rho["emotion"] == math.inf
    torch.testing.assert_close(out_recal, out_plain)  # the forward pass is untouched
    assert g_recal.keys() == g_plain.keys()
    for name in g_plain:
        torch.testing.assert_close(g_recal[name], g_plain[name], msg=name)

    # emotion loss weighted up: its gradient floods the aesthetic branch through AFI, ρ_A > 1
    g_plain, _ = _run(plain, x, 50.0)
    g_zero, _ = _run(zero_t, x, 50.0)
    g_recal, _ = _run(recal, x, 50.0)
    rho, scale = connector.last_rho, connector.last_scale
    assert rho["aesthetic"] > 1
    assert scale["aesthetic"] == pytest.approx(1 / (math.log(rho["aesthetic"]) + 1))
    for branch in ("aesthetic", "emotion"):
        s = scale[branch]
        for i in range(3):  # the stages before the connector
            for name, _ in recal.branches[branch].stages[i].named_parameters():
                key = f"branches.{branch}.stages.{i}.{name}"
                predicted = g_zero[key] + s * (g_plain[key] - g_zero[key]) if rho[branch] > 1 else g_plain[key]
                assert_close_to_scale(g_recal[key], predicted, key)
    stage1 = "branches.aesthetic.stages.0.conv1.0.weight"
    assert float((g_recal[stage1] - g_plain[stage1]).abs().max()) > 0.1 * float(g_plain[stage1].abs().max())
    for key in g_plain:  # downstream of the connector nothing changes
        if key.startswith(("heads.", "connectors.")) or ".stages.3." in key or ".stages.4." in key:
            assert_close_to_scale(g_recal[key], g_plain[key], key)


def test_set_recalibration_switches_parameters_and_options():
    model = build_model("afi", "tiny")
    assert not model.recalibration_enabled and model.build_options["recalibration"] is False
    n = len(list(model.parameters()))
    model.set_recalibration(True, temperature=0.8, learn_temperature=True)
    assert model.recalibration_enabled
    assert {k: model.build_options[k] for k in ("recalibration", "temperature", "learn_temperature")} == \
        {"recalibration": True, "temperature": 0.8, "learn_temperature": True}
    temps = [c.temperature for c in model.connector_modules()]
    assert all(isinstance(t, torch.nn.Parameter) and t.item() == pytest.approx(0.8) for t in temps)
    assert len(list(model.parameters())) == n + len(model.connectors)  # one T per connector
    groups = {g["name"]: {id(p) for p in g["params"]} for g in model.parameter_groups(0.1, 1.0)}
    assert {id(t) for t in temps} <= groups["connectors"]
    assert not {id(t) for t in temps} & {id(p) for p in model.shared_parameters()}
    out = model(torch.randn(2, 3, 64, 64))
    (out["aesthetic"].sum() + out["emotion"].sum()).backward()
    assert all(t.grad is not None for t in temps)
    assert set(model.last_rho()) == set(model.connectors) == {f"connector{i}" for i in range(1, 6)}
    assert all(set(r) == {"aesthetic", "emotion"} for r in model.last_rho().values())
    rebuilt = build_model(**model.build_options)
    assert rebuilt.recalibration_enabled and len(list(rebuilt.parameters())) == n + len(model.connectors)
    rebuilt.load_state_dict(model.state_dict())
    model.set_recalibration(False)
    assert not model.recalibration_enabled and len(list(model.parameters())) == n


def test_double_backward_through_recalibration():
    """GradNorm differentiates gradient norms (create_graph=True); the recalibrated backward must support it."""
    torch.manual_seed(0)
    model = build_model("afi", "tiny", recalibration=True)
    out = model(torch.randn(2, 3, 64, 64))
    loss = F.cross_entropy(out["emotion"], torch.tensor([1, 2]))
    first = model.connector_modules()[0]
    grads = torch.autograd.grad(loss, list(first.parameters()), create_graph=True)
    sum(g.pow(2).sum() for g in grads).backward()
    assert model.branches["emotion"].stages[0].conv1[0].weight.grad is not None
