"""Gradient recalibration (paper 000, eqs. 7–8; docs/science.md §3) as a balancing choice.

The recalibration itself happens inside the AFI connectors (the model): at each connector the gradient through
the interaction path is scaled by ``T / (log ρ + 1)`` when ``ρ = ‖g_AFI‖ / ‖g_SC‖ > 1``. This balancer switches
it on in :meth:`attach` via ``model.set_recalibration(True, temperature=T, learn_temperature=...)`` and
otherwise combines the task losses with fixed weights (same defaults as ``fixed``). ``learn_temperature=False``
(default) keeps T a fixed hyperparameter; ``True`` asks the model for a learned per-connector T (see docs/science.md
§8; those parameters belong to the model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from aelab.tasks import Task
from aelab.train.balancing.fixed import FixedWeights


class GradientRecalibration(FixedWeights):
    """Fixed weights + the AFI model's gradient recalibration."""

    name = "recalibration"

    def __init__(self, tasks: Sequence[str | Task], weights: Mapping[str, float] | None = None,
                 temperature: float = 1.0, learn_temperature: bool = False):
        super().__init__(tasks, weights=weights)
        if not float(temperature) > 0:
            raise ValueError(f"recalibration temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.learn_temperature = bool(learn_temperature)

    def attach(self, model: nn.Module) -> None:
        switch = getattr(model, "set_recalibration", None)
        if not callable(switch):
            arch = getattr(model, "arch", type(model).__name__)
            raise ValueError(
                f"balancer 'recalibration' needs a model with AFI connectors (arch='afi'); the model "
                f"(arch {arch!r}) has no set_recalibration(). Build it with arch='afi' or pick another balancer."
            )
        switch(True, temperature=self.temperature, learn_temperature=self.learn_temperature)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, temperature={self.temperature}, "
                f"learn_temperature={self.learn_temperature}")
