"""Backbone weights: torchvision's ImageNet files (fetched only when asked for) or a local state dict.

docs/science.md §9, engineering rules "Offline by default" and "Safe loading": nothing is downloaded unless
``weights="imagenet"`` is asked for; when that fails, the error says which file to put where
(``<torch.hub.get_dir()>/checkpoints/``, i.e. ``$TORCH_HOME/hub/checkpoints/``). Every file is read
with ``torch.load(..., weights_only=True)``. docs/science.md §3: the papers start from ImageNet weights
(torchvision's ``IMAGENET1K_V1``).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import WeightsEnum, get_model_weights

from aelab.errors import WeightsUnavailableError

WeightsSpec = str | os.PathLike | None
StateDict = dict[str, torch.Tensor]

# What torch.load raises on a missing, truncated, foreign or unsafe file.
_LOAD_ERRORS = (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError)


def imagenet_weights(arch: str, spec: str) -> WeightsEnum | None:
    """torchvision's weights entry named by ``spec``: ``"imagenet"`` → ``IMAGENET1K_V1`` (the weights the
    papers used); an entry name such as ``"IMAGENET1K_V2"`` → that entry; anything else → None (a path)."""
    entries = get_model_weights(arch)
    if spec.lower() == "imagenet":
        return entries.IMAGENET1K_V1
    return entries.__members__.get(spec)


def cache_path(entry: WeightsEnum) -> Path:
    """Where ``torch.hub`` looks for (and downloads) ``entry``'s file: ``<hub dir>/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(entry.url).path)


def fetch_imagenet(arch: str, entry: WeightsEnum) -> StateDict:
    """The state dict of ``entry``, from torch.hub's cache or downloaded there; offline → WeightsUnavailableError."""
    try:
        # Looked up on torch.hub at call time (torchvision binds its own copy at import).
        return torch.hub.load_state_dict_from_url(entry.url, progress=True, check_hash=True, weights_only=True)
    except _LOAD_ERRORS as err:
        raise WeightsUnavailableError(
            f"ImageNet weights {entry} for {arch} could not be loaded ({type(err).__name__}: {err}). "
            f"To use them offline, download {entry.url} on a machine with internet access and save it as "
            f"{cache_path(entry)} (the folder is <torch.hub.get_dir()>/checkpoints, by default "
            f"$TORCH_HOME/hub/checkpoints; set the TORCH_HOME environment variable to use another cache), "
            f"or pass weights=<path to that file>; weights=None trains from random initialisation."
        ) from err


def read_state_dict(path: str | os.PathLike) -> StateDict:
    """A state dict read safely from a .pt/.pth file; a missing or unreadable file → WeightsUnavailableError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"weights file {path} not found; weights= takes None, 'imagenet' or the path of a .pt/.pth state dict"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except _LOAD_ERRORS as err:
        raise WeightsUnavailableError(
            f"weights file {path} could not be read as a PyTorch state dict ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailableError(
            f"weights file {path} holds a {type(state).__name__}, expected a state dict (parameter name → tensor)"
        )
    return dict(state)


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str, arch: str) -> None:
    """Load ``state`` into ``module`` with every key and shape matching, else WeightsUnavailableError naming ``source``."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
               if k in state and state[k].shape != v.shape]
    problems = [f"{label}: {_few(keys)}" for label, keys in
                (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", resized)) if keys]
    if problems:
        raise WeightsUnavailableError(f"{source} does not fit {arch}: " + "; ".join(problems))
    module.load_state_dict(state, strict=True)


def torchvision_state_dict(arch: str, spec: str | os.PathLike) -> tuple[StateDict, str]:
    """The state dict for torchvision's ``arch`` named by ``spec`` (ImageNet entry or file) and a description of its source."""
    entry = imagenet_weights(arch, spec) if isinstance(spec, str) else None
    if entry is not None:
        return fetch_imagenet(arch, entry), f"ImageNet weights file {cache_path(entry)}"
    return read_state_dict(spec), f"weights file {Path(spec).expanduser()}"


def _few(keys: list[str], shown: int = 5) -> str:
    more = f", ... ({len(keys)} in all)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
