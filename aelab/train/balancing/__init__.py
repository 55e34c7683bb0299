"""Loss balancing strategies (docs/science.md §4), one small file each behind :class:`Balancer` (``base.py``).

>>> balancer = build_balancer("dwa", ["aesthetic", "emotion"], temperature=2.0)
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from aelab.errors import UnknownNameError
from aelab.tasks import Task
from aelab.train.balancing.base import Balancer
from aelab.train.balancing.dwa import DynamicWeightAverage
from aelab.train.balancing.fixed import FixedWeights
from aelab.train.balancing.gradnorm import GradNorm
from aelab.train.balancing.recalibration import GradientRecalibration
from aelab.train.balancing.uncertainty import UncertaintyWeighting

BALANCERS: dict[str, type[Balancer]] = {
    cls.name: cls
    for cls in (FixedWeights, UncertaintyWeighting, DynamicWeightAverage, GradNorm, GradientRecalibration)
}
"""Registry of the balancers by name."""


def build_balancer(name: str, tasks: Sequence[str | Task], **options) -> Balancer:
    """Build the balancer ``name`` for ``tasks`` with its keyword ``options``.

    Unknown names raise :class:`~aelab.errors.UnknownNameError`; unknown options a ``TypeError`` that lists
    the options the balancer accepts.
    """
    try:
        cls = BALANCERS[name]
    except KeyError:
        raise UnknownNameError("balancer", name, list(BALANCERS)) from None
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "tasks")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"balancer {name!r} got unknown option(s) {unknown}; it accepts: {', '.join(accepted) or 'none'}"
        )
    return cls(tasks, **options)


__all__ = [
    "BALANCERS", "Balancer", "DynamicWeightAverage", "FixedWeights", "GradNorm", "GradientRecalibration",
    "UncertaintyWeighting", "build_balancer",
]
