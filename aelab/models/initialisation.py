"""Start chosen branches (or streams) of a model from trained runs: ``build_model(..., init={branch: source})``.

Paper 000 (Shen et al. 2022, §4.2 and its initialisation table) initialises its multi-task networks three ways —
Xavier, ImageNet, and the single-task networks trained on UAE — and finds the last best (aesthetic accuracy
80.55 % against 80.13 % and 67.25 %). Paper 003 (Yu et al. 2019) starts AENet's aesthetic stream from an
AVA-trained ResNet50 and its emotional stream from an FI-trained one. ``init`` does this for any architecture:

- keys are the model's backbone names, the same names ``weights={...}`` takes: the task names for ``single`` and
  the two-branch models, ``shared`` plus the task names for AENet, ``shared`` for ``share_split``, ``image`` for
  MCN (:func:`named_backbones`); a name the model lacks is a :class:`~aelab.errors.ConfigError` listing its names;
- values are a run folder (``config.yaml`` + ``checkpoints/``; the ``best`` checkpoint, else ``last``), a folder of
  runs such as ``runs/<name>`` (its most recent run with a checkpoint) or a state-dict file of one backbone
  (``torch.save(model.branches["aesthetic"].state_dict(), path)``);
- from a run, the backbone of the same name is taken, else the run's only backbone (a single-task run of one task,
  a share-split trunk); a run whose backbone differs is refused in one line, and every key is loaded strictly:
  a missing, unexpected or reshaped key is named (:func:`~aelab.models.weights.load_strict`).

Branches not named keep what ``weights`` gave them (random, ImageNet or a file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from torch import nn

from aelab.errors import AelabError, ConfigError
from aelab.models.aenet import SHARED, AENet
from aelab.models.auxiliary import AuxiliaryClassifiers
from aelab.models.backbones import Backbone
from aelab.models.mcn import MCN
from aelab.models.multitask import ShareSplit, SingleTaskModels
from aelab.models.twobranch import TwoBranchModel
from aelab.models.weights import StateDict, load_strict, read_state_dict
from aelab.run_folder import CHECKPOINTS, load_checkpoint, read_config, run_checkpoint

InitSource = str | os.PathLike
Init = Mapping[str, InitSource]
"""``{branch or stream name: run folder, folder of runs or state-dict file}``."""

BACKBONE_VIEWS: dict[type, Callable[[nn.Module], dict[str, Backbone]]] = {
    SingleTaskModels: lambda model: dict(model.branches),
    ShareSplit: lambda model: {SHARED: model.trunk},
    TwoBranchModel: lambda model: dict(model.branches),
    AENet: lambda model: dict(model.streams),
    MCN: lambda model: {"image": model.backbone},
    AuxiliaryClassifiers: lambda model: named_backbones(model.base),
}
"""Model class → its backbones by name (the names ``weights={...}`` and ``init={...}`` take)."""


def named_backbones(model: nn.Module) -> dict[str, Backbone]:
    """The backbones of ``model`` by branch / stream name (see :data:`BACKBONE_VIEWS`)."""
    for kind in type(model).__mro__:
        if kind in BACKBONE_VIEWS:
            return BACKBONE_VIEWS[kind](model)
    raise AelabError(f"{type(model).__name__} names no backbones; add it to BACKBONE_VIEWS in {__name__}")


def run_folder(path: Path, parameter: str) -> Path:
    """``path`` when it is a run folder, else the most recent run folder with a checkpoint directly inside it
    (run folders are named by UTC time, so the last name in order is the latest)."""
    if (path / "config.yaml").is_file():
        return path
    runs = sorted(p for p in path.iterdir() if (p / "config.yaml").is_file() and any((p / CHECKPOINTS).glob("*.pt")))
    if not runs:
        raise ConfigError(parameter, str(path), "a run folder (config.yaml and checkpoints/) or a folder of run "
                                                "folders holding at least one checkpoint")
    return runs[-1]


def _from_run(folder: Path, name: str, target: Backbone, parameter: str) -> tuple[StateDict, str]:
    """The state dict of the backbone ``name`` (else the only backbone) of the run in ``folder``."""
    from aelab.models.registry import build_model  # the registry builds on this module

    config = read_config(folder)
    backbone = config.get("backbone")
    if backbone != target.name:
        raise ConfigError(parameter, str(folder), f"a run with the {target.name} backbone of this model "
                                                  f"(that run has {backbone})")
    checkpoint = run_checkpoint(folder)
    model = build_model(config["arch"], config["backbone"], tasks=config["tasks"], weights=None,
                        **config.get("model_options", {}))
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
    sources = named_backbones(model)
    if name in sources:
        chosen = name
    elif len(sources) == 1:
        chosen = next(iter(sources))
    else:
        raise ConfigError(parameter, str(folder), f"a run with a backbone named {name!r} or with a single backbone "
                                                  f"(that {config.get('arch')} run has {', '.join(sources)})")
    return sources[chosen].state_dict(), f"{parameter}: backbone {chosen!r} of {checkpoint}"


def source_state(source: InitSource, name: str, target: Backbone) -> tuple[StateDict, str]:
    """The state dict ``source`` gives branch ``name`` (whose backbone is ``target``) and a description of it."""
    parameter = f"init.{name}"
    path = Path(source).expanduser()
    if path.is_dir():
        return _from_run(run_folder(path, parameter), name, target, parameter)
    if path.is_file():
        return read_state_dict(path), f"{parameter}: weights file {path}"
    raise ConfigError(parameter, str(source), "an existing run folder, folder of runs or state-dict file")


def initialise(model: nn.Module, init: Init | None) -> dict[str, str]:
    """Load each branch ``init`` names from its source, strictly (see the module docstring); returns branch →
    where its weights came from. Every name is checked before anything is loaded."""
    if not init:
        return {}
    targets = named_backbones(model)
    for name in init:
        if name not in targets:
            arch = getattr(model, "arch", type(model).__name__)
            raise ConfigError("init", name, f"a branch of this {arch} model: {', '.join(targets)}")
    loaded = {}
    for name, source in init.items():
        state, description = source_state(source, name, targets[name])
        load_strict(targets[name], state, description, targets[name].name)
        loaded[name] = description
    return loaded
