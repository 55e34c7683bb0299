"""Training optimisers by name: each entry builds a torch optimiser over parameter groups from a
:class:`~aelab.train.config.TrainConfig`'s ``lr``, ``momentum`` and ``weight_decay``. A new optimiser is one entry in
:data:`OPTIMIZERS`.

* ``sgd`` — SGD with momentum, the papers' choice; ``weight_decay`` is an L2 term added to the gradient.
* ``adam`` — Adam (Kingma & Ba 2015) with the same L2 term, which the adaptive step then scales per parameter.
* ``adamw`` — AdamW (Loshchilov & Hutter 2019): the decay is decoupled from the gradient, every weight shrinks by
  ``lr · weight_decay`` per step whatever its gradient history, so useful values are larger (0.01–0.1) than Adam's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

OptimizerBuilder = Callable[[list[dict[str, Any]], Any], torch.optim.Optimizer]


def _sgd(groups: list[dict[str, Any]], config: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def _adam(groups: list[dict[str, Any]], config: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)


def _adamw(groups: list[dict[str, Any]], config: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


OPTIMIZERS: dict[str, OptimizerBuilder] = {"sgd": _sgd, "adam": _adam, "adamw": _adamw}
"""Name → ``build(parameter groups, config)``."""
