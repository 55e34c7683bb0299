"""Loss balancing strategies (docs/science.md §4): each balancer's weights follow its formula on scripted losses."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from torch import nn

from aelab.errors import UnknownNameError
from aelab.train import BALANCERS, build_balancer
from aelab.train.balancing import Balancer

TWO = ["aesthetic", "emotion"]


def scalar(value: float, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(float(value), requires_grad=requires_grad)


def roundtrip(state: dict) -> dict:
    """Through bytes and back with the safe loader the trainer uses for checkpoints."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


# -- registry ----------------------------------------------------------------------------------------------
def test_registry_names_and_contract():
    assert set(BALANCERS) == {"fixed", "uncertainty", "dwa", "gradnorm", "recalibration"}
    for name, cls in BALANCERS.items():
        assert cls.name == name and issubclass(cls, Balancer)
        balancer = build_balancer(name, ["aesthetic", "emotion", "sentiment"])
        assert balancer.tasks == ("aesthetic", "emotion", "sentiment")
        assert set(balancer.weights()) == {"aesthetic", "emotion", "sentiment"}


def test_unknown_name_and_option():
    with pytest.raises(UnknownNameError, match="gradnrom"):
        build_balancer("gradnrom", TWO)
    with pytest.raises(TypeError, match="temperature"):
        build_balancer("dwa", TWO, temprature=2.0)


def test_losses_must_match_tasks():
    balancer = build_balancer("fixed", TWO)
    with pytest.raises(ValueError, match="missing: \\['emotion'\\]"):
        balancer({"aesthetic": scalar(1.0)})
    with pytest.raises(ValueError, match="unexpected: \\['style'\\]"):
        balancer({"aesthetic": scalar(1.0), "emotion": scalar(1.0), "style": scalar(1.0)})


# -- fixed -------------------------------------------------------------------------------------------------
def test_fixed_default_weights_and_loss():
    balancer = build_balancer("fixed", ["aesthetic", "emotion", "style"])
    assert balancer.weights() == {"aesthetic": 1.0, "emotion": 0.25, "style": 1.0}
    total = balancer({"aesthetic": scalar(0.8), "emotion": scalar(2.0), "style": scalar(0.3)})
    assert total.item() == pytest.approx(0.8 + 0.25 * 2.0 + 0.3)
    # alone, emotion is not down-weighted (λ is a trade-off between tasks)
    assert build_balancer("fixed", ["emotion"]).weights() == {"emotion": 1.0}


def test_fixed_weights_option():
    balancer = build_balancer("fixed", TWO, weights={"emotion": 0.5})
    assert balancer.weights() == {"aesthetic": 1.0, "emotion": 0.5}
    assert balancer({"aesthetic": scalar(1.0), "emotion": scalar(4.0)}).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="sentiment"):
        build_balancer("fixed", TWO, weights={"sentiment": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        build_balancer("fixed", TWO, weights={"emotion": -1.0})


# -- uncertainty -------------------------------------------------------------------------------------------
def test_uncertainty_loss_and_gradient_follow_kendall():
    tasks = ["aesthetic", "emotion", "aesthetic_score"]  # binary, multiclass, regression
    balancer = build_balancer("uncertainty", tasks)
    assert torch.equal(balancer.log_vars.detach(), torch.zeros(3))  # init s = 0
    s = [0.3, -0.2, 0.5]
    L = [0.7, 1.9, 2.5]
    with torch.no_grad():
        balancer.log_vars.copy_(torch.tensor(s))
    losses = {t: scalar(v, requires_grad=True) for t, v in zip(tasks, L)}
    total = balancer(losses)
    expected = (math.exp(-0.3) * 0.7 + 0.3) + (math.exp(0.2) * 1.9 - 0.2) + 0.5 * (math.exp(-0.5) * 2.5 + 0.5)
    assert total.item() == pytest.approx(expected, rel=1e-6)

    total.backward()
    # d/ds_t = c_t·(1 − exp(−s_t)·L_t), c = 1/2 for the regression task
    expected_grad = [1 - math.exp(-0.3) * 0.7, 1 - math.exp(0.2) * 1.9, 0.5 * (1 - math.exp(-0.5) * 2.5)]
    np.testing.assert_allclose(balancer.log_vars.grad.numpy(), expected_grad, rtol=1e-6)
    # d/dL_t = c_t·exp(−s_t)
    assert losses["aesthetic_score"].grad.item() == pytest.approx(0.5 * math.exp(-0.5), rel=1e-6)
    assert losses["emotion"].grad.item() == pytest.approx(math.exp(0.2), rel=1e-6)
    weights = balancer.weights()
    assert weights["aesthetic_score"] == pytest.approx(0.5 * math.exp(-0.5), rel=1e-6)
    assert weights["aesthetic"] == pytest.approx(math.exp(-0.3), rel=1e-6)
    assert [p is balancer.log_vars for p in balancer.parameters()] == [True]


# -- DWA ---------------------------------------------------------------------------------------------------
def test_dwa_weights_over_scripted_epochs():
    balancer = build_balancer("dwa", TWO)  # T = 2, K = 2
    epoch_means = [
        {"aesthetic": 1.0, "emotion": 2.0},
        {"aesthetic": 0.5, "emotion": 1.8},
        {"aesthetic": 0.4, "emotion": 0.9, "total": 1.3},  # extra keys are ignored
    ]
    # hand-computed: epoch 3 uses r = (0.5/1.0, 1.8/2.0) = (0.5, 0.9): w_a = 2/(1 + e^{(0.9−0.5)/2}) = 2/(1+e^0.2)
    #                epoch 4 uses r = (0.4/0.5, 0.9/1.8) = (0.8, 0.5): w_a = 2/(1 + e^{(0.5−0.8)/2}) = 2/(1+e^-0.15)
    expected = [(1.0, 1.0), (1.0, 1.0), (0.9003320053750442, 1.0996679946249558),
                (1.0748596906014192, 0.9251403093985808)]
    for epoch in range(4):
        w = balancer.weights()
        assert (w["aesthetic"], w["emotion"]) == pytest.approx(expected[epoch], abs=1e-6), f"epoch {epoch + 1}"
        total = balancer({"aesthetic": scalar(2.0), "emotion": scalar(3.0)})
        assert total.item() == pytest.approx(2.0 * expected[epoch][0] + 3.0 * expected[epoch][1], rel=1e-6)
        if epoch < 3:
            balancer.epoch_end(epoch_means[epoch])


def test_dwa_temperature_and_many_tasks():
    tasks = ["aesthetic", "emotion", "sentiment"]
    balancer = build_balancer("dwa", tasks, temperature=1.0)
    balancer.epoch_end({"aesthetic": 1.0, "emotion": 1.0, "sentiment": 1.0})
    balancer.epoch_end({"aesthetic": 1.0, "emotion": 0.5, "sentiment": 0.0})
    r = np.array([1.0, 0.5, 0.0])
    expected = 3 * np.exp(r) / np.exp(r).sum()
    np.testing.assert_allclose(list(balancer.weights().values()), expected, rtol=1e-6)
    assert sum(balancer.weights().values()) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="sentiment"):
        balancer.epoch_end({"aesthetic": 1.0, "emotion": 1.0})


def test_dwa_state_dict_roundtrip_restores_history():
    first = build_balancer("dwa", TWO)
    first.epoch_end({"aesthetic": 1.0, "emotion": 2.0})
    state = roundtrip(first.state_dict())
    resumed = build_balancer("dwa", TWO)
    resumed.load_state_dict(state)
    for means in ({"aesthetic": 0.5, "emotion": 1.8}, {"aesthetic": 0.4, "emotion": 0.9}):
        first.epoch_end(means)
        resumed.epoch_end(means)
        assert resumed.weights() == first.weights()
    assert resumed.weights()["aesthetic"] == pytest.approx(1.0748596906014192, abs=1e-6)
    # without the saved history the resumed run would still be at w = 1
    fresh = build_balancer("dwa", TWO)
    fresh.epoch_end({"aesthetic": 0.5, "emotion": 1.8})
    assert fresh.weights() == {"aesthetic": 1.0, "emotion": 1.0}


# -- GradNorm ----------------------------------------------------------------------------------------------
class TinyShared(nn.Module):
    """A shared vector θ and a head scale h; L_a = (θ·x_a)², L_e = 3·h·(θ·x_e)², so ∇_θ is known by hand."""

    arch = "tiny_shared"

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([1.0, 2.0, 0.0]))
        self.head = nn.Parameter(torch.tensor(1.0))
        self.x_a = torch.tensor([1.0, 0.0, 0.0])
        self.x_e = torch.tensor([0.0, 1.0, 1.0])

    def shared_parameters(self):
        return [self.theta]

    def losses(self) -> dict[str, torch.Tensor]:
        return {"aesthetic": (self.theta @ self.x_a) ** 2, "emotion": 3 * self.head * (self.theta @ self.x_e) ** 2}


def hand_gradnorm(theta, w, initial, alpha=1.5):
    """G_t, ∂L_grad/∂w and Σ w·L for TinyShared, derived by hand (no autograd)."""
    theta, w = np.asarray(theta, float), np.asarray(w, float)
    dot_a, dot_e = theta[0], theta[1] + theta[2]
    L = np.array([dot_a ** 2, 3 * dot_e ** 2])
    g = np.array([2 * abs(dot_a) * 1.0, 6 * abs(dot_e) * math.sqrt(2)])  # ‖∇_θ L_t‖
    G = w * g
    relative = L / np.asarray(initial, float)
    target = G.mean() * (relative / relative.mean()) ** alpha
    return G, np.sign(G - target) * g, float((w * L).sum())


def test_gradnorm_norms_weight_gradient_and_renormalisation():
    model = TinyShared()
    balancer = build_balancer("gradnorm", TWO)
    balancer.attach(model)
    assert torch.equal(balancer.task_weights.detach(), torch.ones(2))

    # step 1: records L(0) = (1, 12); r = 1 so the target is mean(G)
    total = balancer(model.losses())
    G, w_grad, weighted = hand_gradnorm([1.0, 2.0, 0.0], [1.0, 1.0], [1.0, 12.0])
    np.testing.assert_allclose(balancer.last_grad_norms.numpy(), G, rtol=1e-5)  # (2, 12·√2)
    assert total.item() == pytest.approx(weighted)
    total.backward()
    np.testing.assert_allclose(balancer.task_weights.grad.numpy(), w_grad, rtol=1e-5)  # (−2, 12·√2)
    np.testing.assert_allclose(balancer.initial_losses.numpy(), [1.0, 12.0])
    # the model receives the gradient of Σ w·L only: ∇_θ = 2θ·x_a·x_a + 6θ·x_e·x_e
    np.testing.assert_allclose(model.theta.grad.numpy(), [2.0, 12.0, 12.0], rtol=1e-6)

    # an optimiser step on w, then renormalisation to Σ w = K
    optimizer = torch.optim.SGD(balancer.parameters(), lr=0.01)
    optimizer.step()
    raw = 1.0 - 0.01 * np.array(w_grad)
    balancer.after_step()
    np.testing.assert_allclose(balancer.task_weights.detach().numpy(), 2 * raw / raw.sum(), rtol=1e-6)
    assert sum(balancer.weights().values()) == pytest.approx(2.0)

    # step 2: new θ and weights; L̃ = (0.25, 0.5625) so r ≠ 1. These numbers are chosen so that the sign pattern
    # of ∂L_grad/∂w (−, −) changes if α were 1 or 2, if raw L replaced L̃, or if r were not divided by its mean.
    with torch.no_grad():
        model.theta.copy_(torch.tensor([0.5, 1.5, 0.0]))
        balancer.task_weights.copy_(torch.tensor([1.5, 0.5]))
    balancer.zero_grad()
    model.zero_grad()
    total = balancer(model.losses())
    G, w_grad, weighted = hand_gradnorm([0.5, 1.5, 0.0], [1.5, 0.5], [1.0, 12.0])
    assert np.sign(w_grad).tolist() == [-1.0, -1.0]
    np.testing.assert_allclose(balancer.last_grad_norms.numpy(), G, rtol=1e-5)  # (1.5·1, 0.5·9·√2)
    assert total.item() == pytest.approx(weighted) == 1.5 * 0.25 + 0.5 * 6.75
    total.backward()
    np.testing.assert_allclose(balancer.task_weights.grad.numpy(), w_grad, rtol=1e-5)
    np.testing.assert_allclose(model.head.grad.item(), 0.5 * 6.75, rtol=1e-6)  # w_e·∂L_e/∂h only


def test_gradnorm_renormalisation_keeps_weights_positive():
    balancer = build_balancer("gradnorm", ["aesthetic", "emotion", "sentiment"])
    with torch.no_grad():
        balancer.task_weights.copy_(torch.tensor([-0.5, 1.0, 3.0]))
    balancer.after_step()
    w = balancer.task_weights.detach()
    assert (w > 0).all() and w.sum().item() == pytest.approx(3.0)
    np.testing.assert_allclose(w[1:].numpy(), [0.75, 2.25], rtol=1e-5)


def test_gradnorm_eval_returns_weighted_sum_without_recording():
    model = TinyShared()
    balancer = build_balancer("gradnorm", TWO)
    balancer.attach(model)
    with torch.no_grad():
        total = balancer(model.losses())
    assert total.item() == pytest.approx(13.0)
    assert (balancer.initial_losses == 0).all()  # not recorded


def test_gradnorm_needs_shared_parameters():
    class Single(nn.Module):
        arch = "single"

        def shared_parameters(self):
            return []

    balancer = build_balancer("gradnorm", TWO)
    with pytest.raises(ValueError, match="'single'.*another balancer"):
        balancer.attach(Single())
    with pytest.raises(ValueError, match="Linear"):
        balancer.attach(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="attach"):
        balancer(TinyShared().losses())


def test_gradnorm_state_dict_roundtrip_restores_initial_losses_and_weights():
    model = TinyShared()
    first = build_balancer("gradnorm", TWO)
    first.attach(model)
    first(model.losses()).backward()
    torch.optim.SGD(first.parameters(), lr=0.01).step()
    first.after_step()

    resumed = build_balancer("gradnorm", TWO)
    resumed.load_state_dict(roundtrip(first.state_dict()))
    resumed.attach(model)
    np.testing.assert_allclose(resumed.initial_losses.numpy(), [1.0, 12.0])
    assert resumed.weights() == first.weights()
    # continue identically: same L(0) → same weight gradient (on the step-2 numbers of the test above)
    fresh = build_balancer("gradnorm", TWO)  # without the saved state, these losses would become L(0)
    fresh.attach(model)
    with torch.no_grad():
        model.theta.copy_(torch.tensor([0.5, 1.5, 0.0]))
    for balancer in (first, resumed, fresh):
        with torch.no_grad():
            balancer.task_weights.copy_(torch.tensor([1.5, 0.5]))
        balancer.zero_grad()
        balancer(model.losses()).backward()
    expected = hand_gradnorm([0.5, 1.5, 0.0], [1.5, 0.5], [1.0, 12.0])[1]
    np.testing.assert_allclose(first.task_weights.grad.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(resumed.task_weights.grad.numpy(), expected, rtol=1e-5)
    unsaved = hand_gradnorm([0.5, 1.5, 0.0], [1.5, 0.5], [0.25, 6.75])[1]
    assert np.sign(unsaved).tolist() != np.sign(expected).tolist()
    np.testing.assert_allclose(fresh.task_weights.grad.numpy(), unsaved, rtol=1e-5)


# -- recalibration -----------------------------------------------------------------------------------------
def test_recalibration_attach_switches_the_model_on():
    class AfiStub(nn.Module):
        arch = "afi"

        def __init__(self):
            super().__init__()
            self.calls = []

        def set_recalibration(self, enabled, temperature=1.0, learn_temperature=False):
            self.calls.append((enabled, temperature, learn_temperature))

    model = AfiStub()
    build_balancer("recalibration", TWO).attach(model)
    build_balancer("recalibration", TWO, temperature=2.0, learn_temperature=True).attach(model)
    assert model.calls == [(True, 1.0, False), (True, 2.0, True)]

    balancer = build_balancer("recalibration", TWO)
    assert balancer.weights() == {"aesthetic": 1.0, "emotion": 0.25}
    assert balancer({"aesthetic": scalar(1.0), "emotion": scalar(2.0)}).item() == pytest.approx(1.5)


def test_recalibration_rejects_models_without_afi():
    class Hard(nn.Module):
        arch = "hard"

    with pytest.raises(ValueError, match="arch='afi'.*'hard'"):
        build_balancer("recalibration", TWO).attach(Hard())
