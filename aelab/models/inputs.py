"""What a model reads from a batch besides the images, and options a model derives from its training data.

A model names the extra batch keys it takes as keyword arguments in ``batch_inputs`` (default none: ``model(images)``);
:func:`call_model` is the one place that builds the call, for training, evaluation and prediction. MCN-MTL
(paper 002) reads ``comments``. :data:`DATA_FITTERS` maps an architecture to a function that fills options from the
training split (MCN: the vocabulary of the training comments); the result goes into the run's ``config.yaml``
so the run can be rebuilt and reloaded as trained.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from aelab.models.mcn import fit_vocabulary

DATA_FITTERS: dict[str, Callable[[Sequence[Any], dict], dict]] = {
    "mcn": fit_vocabulary,
    "mcn_no_ctrm": fit_vocabulary,
}
"""Architecture → ``(training samples, model options) -> model options``."""


def batch_inputs(model: nn.Module) -> tuple[str, ...]:
    """The batch keys ``model`` (or the model inside a DDP wrapper) takes besides the images."""
    return tuple(getattr(getattr(model, "module", model), "batch_inputs", ()))


def call_model(model: nn.Module, batch: Mapping[str, Any], device: torch.device | str) -> dict[str, torch.Tensor]:
    """``model(images, **extra)`` for a batch dict with ``"image"`` and the model's :func:`batch_inputs`
    (tensors moved to ``device``; other values, such as comment strings, passed as they are)."""
    extra = {}
    for key in batch_inputs(model):
        if key not in batch:
            raise KeyError(f"the model reads batch key {key!r} but the batch has only {sorted(batch)}; "
                           f"does the data carry {key}?")
        value = batch[key]
        extra[key] = value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
    return model(batch["image"].to(device, non_blocking=True), **extra)


def fit_model_options(arch: str, samples: Sequence[Any], options: dict) -> dict:
    """``options`` completed from the training ``samples`` for architectures that need it (else unchanged)."""
    fitter = DATA_FITTERS.get(arch)
    return dict(options) if fitter is None else fitter(samples, dict(options))
