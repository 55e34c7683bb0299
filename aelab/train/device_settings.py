"""How a run uses its device: mixed precision, memory format, compilation, and the DataLoader's settings.

**Mixed precision** (Micikevicius et al. 2018, *Mixed Precision Training*): the forward pass runs under
``torch.autocast``; float16 needs loss scaling (``GradScaler``) because its exponent range is narrow, bfloat16 has
float32's range and needs none. ``amp_dtype`` chooses (:data:`AMP_DTYPES`):

- ``"auto"``: on CUDA bfloat16 where the GPU supports it, else float16 with a ``GradScaler``; off on a CPU;
- ``"bfloat16"``: bfloat16 on any device, the CPU included (``torch.autocast("cpu", dtype=torch.bfloat16)``);
- ``"float16"``: float16 with a ``GradScaler``; CUDA only.

``amp=False`` turns mixed precision off whatever ``amp_dtype`` says.

**DataLoader** (:func:`loader_settings`): ``"auto"`` values are chosen from the cores this process may use (its CPU
affinity, shared among the processes ``torchrun`` starts on the machine) and the device:

- ``num_workers``: on a GPU ``min(8, cores - 1)`` (one core stays with the training loop); on a CPU ``cores // 4``
  capped at 4, so 0 on up to 3 cores — there the model's own threads use every core and decoding in worker
  processes would only take cores from it;
- ``pin_memory``: on for CUDA;
- ``persistent_workers``: off, so that each epoch's workers are started from the epoch's seed and a resumed run
  repeats the random crops of an uninterrupted one; turning it on keeps the workers (and their random streams)
  across epochs and saves their start-up;
- ``prefetch_factor``: with workers, 4 batches per worker on a GPU and torch's 2 otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from aelab.errors import ConfigError

AUTO = "auto"


def auto_or(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """A :mod:`~aelab.train.config_checks` check that also accepts ``"auto"``; a string such as ``"4"`` or
    ``"false"`` (how a command-line flag arrives) is read as YAML before ``check`` sees it."""

    def checked(parameter: str, value: Any) -> Any:
        if value == AUTO:
            return AUTO
        parsed = value
        if isinstance(value, str):
            import yaml

            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                parsed = value
        try:
            return check(parameter, parsed)
        except ConfigError as error:
            raise ConfigError(parameter, value, f"'auto' or {error.expected}") from None

    return checked


def _auto_dtype(device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _float16(device: torch.device) -> torch.dtype:
    if device.type != "cuda":
        raise ConfigError("amp_dtype", "float16", f"'bfloat16' or 'auto' on device {device.type!r} (float16 with "
                          "loss scaling needs a CUDA device)")
    return torch.float16


AMP_DTYPES: dict[str, Callable[[torch.device], torch.dtype | None]] = {
    AUTO: _auto_dtype,
    "bfloat16": lambda device: torch.bfloat16,
    "float16": _float16,
}
"""``amp_dtype`` value → the autocast dtype it gives on a device (None: full precision)."""


def autocast_dtype(amp: bool, amp_dtype: str, device: torch.device) -> torch.dtype | None:
    """The dtype the forward pass is autocast to on ``device``, or None for full precision."""
    return AMP_DTYPES[amp_dtype](device) if amp else None


COMPILE_OPTIONS: dict[str, Any] = {}
"""Keyword arguments of ``torch.compile`` for training (default: the inductor backend)."""


def training_module(model: nn.Module, *, channels_last: bool = False, compile: bool = False,
                    wrap: Callable[[nn.Module], nn.Module] | None = None) -> nn.Module:
    """The module to train: ``model`` with its 4-d weights in channels-last (NHWC) memory order when asked (in
    place: the model itself changes), wrapped by ``wrap`` (e.g. DDP) and then by ``torch.compile`` when asked.
    Parameters stay shared with ``model``, so checkpoints and evaluation keep using ``model`` itself."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
    module = wrap(model) if wrap is not None else model
    return torch.compile(module, **COMPILE_OPTIONS) if compile else module


def to_channels_last(images: torch.Tensor) -> torch.Tensor:
    """A batch ``(B, C, H, W)`` in channels-last memory order (other shapes unchanged)."""
    return images.contiguous(memory_format=torch.channels_last) if images.dim() == 4 else images


# ---- DataLoader settings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoaderSettings:
    """The keyword arguments of ``torch.utils.data.DataLoader`` that depend on the machine."""

    num_workers: int
    pin_memory: bool
    persistent_workers: bool
    prefetch_factor: int | None

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


def available_cores(processes: int = 1) -> int:
    """The CPU cores this process may use (its affinity where the OS tells it), shared among ``processes``
    processes on the machine; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, processes))


def auto_workers(device_type: str, cores: int) -> int:
    """Worker processes for ``num_workers="auto"`` (see the module docstring)."""
    if device_type == "cpu":
        return min(4, cores // 4)
    return max(0, min(8, cores - 1))


def loader_settings(num_workers: int | str, pin_memory: bool | str, persistent_workers: bool | str,
                    prefetch_factor: int | str, device: torch.device, cores: int) -> LoaderSettings:
    """The DataLoader settings for ``device`` and ``cores`` usable cores, each ``"auto"`` value chosen as the
    module docstring says. Settings that only apply to worker processes, asked for explicitly while
    ``num_workers`` is explicitly 0, raise :class:`~aelab.errors.ConfigError`; with ``num_workers="auto"`` they
    are dropped when no workers are chosen."""
    workers = auto_workers(device.type, cores) if num_workers == AUTO else int(num_workers)
    if workers == 0 and num_workers != AUTO:
        for name, value in (("persistent_workers", persistent_workers), ("prefetch_factor", prefetch_factor)):
            if value not in (AUTO, False):
                raise ConfigError(name, value, "'auto' (or false) when num_workers is 0: it applies to worker "
                                  "processes only")
    pin = device.type == "cuda" if pin_memory == AUTO else bool(pin_memory)
    persistent = workers > 0 and persistent_workers not in (AUTO, False)
    prefetch = None
    if workers > 0:
        prefetch = (4 if device.type == "cuda" else 2) if prefetch_factor == AUTO else int(prefetch_factor)
    return LoaderSettings(workers, pin, persistent, prefetch)
