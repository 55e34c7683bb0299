"""Checks the trainer runs before it writes anything: tensors that must be finite before a checkpoint is saved,
the smallest image a model accepts, and the random number generator states a checkpoint carries."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from aelab.errors import AelabError, ConfigError
from aelab.models.backbones import Backbone
from aelab.models.inputs import call_model


def _finite(tensor: torch.Tensor) -> bool:
    return not tensor.is_floating_point() or bool(torch.isfinite(tensor).all())


def first_non_finite(modules: Mapping[str, nn.Module], losses: Mapping[str, float] | None = None) -> str | None:
    """What is NaN or infinite, in words (``"validation loss of task 'emotion' is nan"``, ``"model parameter
    'head.weight'"``), checking ``losses`` and then every floating-point parameter and buffer of ``modules``
    (name → module); None when everything is finite."""
    for task, value in (losses or {}).items():
        if not math.isfinite(value):
            return f"validation loss of task {task!r} is {value}"
    for owner, module in modules.items():
        for kind, named in (("parameter", module.named_parameters()), ("buffer", module.named_buffers())):
            for name, tensor in named:
                if not _finite(tensor):
                    return f"{owner} {kind} {name!r} holds NaN or infinite values"
    return None


def state_non_finite(state: Mapping[str, Any]) -> str | None:
    """The first floating-point tensor of a saved ``model`` / ``balancer`` state dict that is not finite."""
    for owner in ("model", "balancer"):
        for name, tensor in (state.get(owner) or {}).items():
            if isinstance(tensor, torch.Tensor) and not _finite(tensor):
                return f"{owner} tensor {name!r} holds NaN or infinite values"
    return None


# ---- random number generators ------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (CPU) and CUDA generator states, in types ``torch.load(weights_only=True)`` reads."""
    name, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python_rng": random.getstate(),
        "numpy_rng": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` saved (keys missing from older checkpoints are left as they are)."""
    if "python_rng" in state:
        version, internal, gauss = state["python_rng"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy_rng" in state:
        name, keys, position, has_gauss, gauss = state["numpy_rng"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    cuda = state.get("cuda_rng")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---- input size --------------------------------------------------------------------------------------------


def _backbones(model: nn.Module) -> Iterable[Backbone]:
    return (m for m in model.modules() if isinstance(m, Backbone))


def _runs(model: nn.Module, batch: dict[str, Any], device: torch.device) -> RuntimeError | None:
    try:
        call_model(model, batch, device)
    except RuntimeError as error:
        return error
    return None


def check_input_size(model: nn.Module, data: Dataset, image_size: int, device: torch.device,
                     limit: int = 1024) -> None:
    """Run ``model`` once (eval mode, no gradients, generator states untouched) on the first image of ``data``;
    when it fails, find the smallest square side the model accepts (multiples of its backbones' total reduction)
    and raise :class:`~aelab.errors.ConfigError` for ``image_size`` naming it."""
    saved, was_training = rng_state(), model.training
    model.eval()
    try:
        with torch.no_grad():
            batch = default_collate([data[0]])
            error = _runs(model, batch, device)
            if error is None:
                return
            step = max((b.reductions[-1] for b in _backbones(model)), default=1)
            for side in range(step, limit + 1, step):
                blank = {**batch, "image": torch.zeros(1, 3, side, side)}
                if side > image_size and _runs(model, blank, device) is None:
                    names = sorted({b.name for b in _backbones(model)})
                    raise ConfigError("image_size", image_size,
                                      f"at least {side} (the smallest image the model on backbone "
                                      f"{', '.join(names)} accepts)")
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise AelabError(f"the model cannot run on one training image of {image_size} px: {first_line}")
    finally:
        model.train(was_training)
        set_rng_state(saved)
