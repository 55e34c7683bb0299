"""The connector registry: each two-branch architecture is one CONNECTORS entry, with its options and placement."""

import pytest
import torch
from torch import nn

from aelab.errors import UnknownNameError
from aelab.models import build_model
from aelab.models.connectors import CONNECTORS, ConnectorKind, block_stages
from aelab.models.registry import MODELS, two_branch_builder
from aelab.models.twobranch import AFIModel


class Swap(nn.Module):
    """A connector that swaps the branches' features, scaled by ``gain``."""

    def __init__(self, channels: int, gain: float = 1.0):
        super().__init__()
        self.channels, self.gain = channels, gain

    def forward(self, xa, xe):
        return self.gain * xe, self.gain * xa


@pytest.fixture
def swap(monkeypatch):
    monkeypatch.setitem(CONNECTORS, "swap", ConnectorKind(Swap, options=("gain",), placement="between_blocks"))
    monkeypatch.setitem(MODELS, "swap", two_branch_builder("swap"))


def test_every_connector_is_an_architecture_built_with_it():
    for name, kind in CONNECTORS.items():
        model = build_model(name, "tiny", weights=None)
        assert model.arch == name and isinstance(model, kind.model)
        assert model.connectors and all(isinstance(c, kind.module) for c in model.connectors.values())
    assert isinstance(build_model("afi"), AFIModel)


def test_a_connector_offers_its_own_options_and_no_other():
    assert build_model("cross_stitch", per_channel=False).build_options["per_channel"] is False
    assert all(c.alpha.shape == (2, 2) for c in build_model("cross_stitch", per_channel=False).connectors.values())
    afi = build_model("afi", tasks=["aesthetic", "emotion"], reduction=4)
    assert {c.reduction for c in afi.connectors.values()} == {4}
    assert {c.branch_names for c in afi.connectors.values()} == {("aesthetic", "emotion")}  # the task names
    with pytest.raises(UnknownNameError, match="per_channel"):
        build_model("nddr", per_channel=False)


def test_a_new_connector_is_one_entry(swap):
    model = build_model("swap", "tiny", gain=0.5)
    blocks = block_stages(model.branches["aesthetic"])
    assert len(model.connectors) == len(blocks) - 1 and model.build_options["gain"] == 0.5  # between blocks: n−1
    assert all(isinstance(c, Swap) and c.gain == 0.5 for c in model.connectors.values())
    outputs = model(torch.rand(2, 3, 32, 32))
    assert set(outputs) == {"aesthetic", "emotion"}
    assert build_model(**model.build_options).build_options == model.build_options
