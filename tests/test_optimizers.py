"""The training optimisers by name: each builds the torch optimiser with the config's settings; AdamW's weight decay
is decoupled from the gradient."""

import pytest
import torch
from torch import nn

from aelab.errors import ConfigError
from aelab.train.config import TrainConfig
from aelab.train.optimizers import OPTIMIZERS
from aelab.train.trainer import _optimizer


class Balancer(nn.Module):
    """A balancer with one learned weight (it must come out undecayed)."""

    def __init__(self):
        super().__init__()
        self.log_weight = nn.Parameter(torch.zeros(1))


@pytest.mark.parametrize("name, kind", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                        ("adamw", torch.optim.AdamW)])
def test_each_name_builds_its_optimiser_with_the_configs_settings(name, kind):
    from aelab.models import build_model

    config = TrainConfig(optimizer=name, lr=0.01, weight_decay=0.05, momentum=0.8)
    model = build_model("share_split", "tiny", tasks=["aesthetic", "emotion"])
    optimizer = _optimizer(config, model, Balancer())
    assert type(optimizer) is kind and set(OPTIMIZERS) == {"sgd", "adam", "adamw"}
    model_groups = [g for g in optimizer.param_groups if g.get("name") != "balancer"]
    assert all(g["lr"] == 0.01 and g["weight_decay"] == 0.05 for g in model_groups)
    assert [g["weight_decay"] for g in optimizer.param_groups if g.get("name") == "balancer"] == [0.0]
    if name == "sgd":
        assert optimizer.param_groups[0]["momentum"] == 0.8


def test_adamw_shrinks_a_weight_without_gradient_by_lr_times_decay_and_adam_does_not():
    moved = {}
    for name in ("adam", "adamw"):
        weight = nn.Parameter(torch.full((3,), 2.0))
        optimizer = OPTIMIZERS[name]([{"params": [weight]}], TrainConfig(optimizer=name, lr=0.1, weight_decay=0.5))
        weight.grad = torch.zeros(3)
        optimizer.step()
        moved[name] = weight.detach().clone()
    assert torch.allclose(moved["adamw"], torch.full((3,), 2.0 * (1 - 0.1 * 0.5)))  # decoupled: p ← p − lr·λ·p
    assert torch.allclose(moved["adam"], torch.full((3,), 2.0 - 0.1), atol=1e-6)  # L2 in the gradient: one Adam step


def test_an_unknown_optimiser_is_named_with_the_choices():
    with pytest.raises(ConfigError, match="optimizer: got 'rmsprop'.*adamw"):
        TrainConfig(optimizer="rmsprop")
