"""Reading a run folder's files (config, checkpoints), below every package that needs them: the trainer
writes run folders (:mod:`aelab.train.runs`), the loader of a run (:mod:`aelab.load`) and the initialisation of
branches from trained runs (:mod:`aelab.models.initialisation`) read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from aelab.errors import AelabError

CHECKPOINTS = "checkpoints"
ATLAS_FOLDER = "atlas"
"""A run folder's cache of layer atlases (:mod:`aelab.viz.atlas`)."""


def read_config(folder: str | Path) -> dict[str, Any]:
    """The ``config`` section of a run's ``config.yaml``."""
    path = Path(folder) / "config.yaml"
    if not path.exists():
        raise AelabError(f"{path} not found: {folder} is not a run folder")
    return yaml.safe_load(path.read_text())["config"]


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``: a pickle from elsewhere cannot run code)."""
    path = Path(path)
    if not path.exists():
        raise AelabError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # corrupt or foreign file: name it
        raise AelabError(f"checkpoint {path} cannot be read: {error}") from None


def checkpoint_path(folder: str | Path, which: str = "last") -> Path:
    return Path(folder) / CHECKPOINTS / f"{which}.pt"


def run_checkpoint(folder: str | Path, checkpoint: str = "best") -> Path:
    """The checkpoint file of a run folder that ``checkpoint`` names (``best`` falls back to ``last``)."""
    path = checkpoint_path(folder, checkpoint)
    if not path.exists() and checkpoint == "best":
        path = checkpoint_path(folder, "last")
    if not path.exists():
        raise AelabError(f"{folder} has no checkpoint {checkpoint!r} (looked for {path})")
    return path
