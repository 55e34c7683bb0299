"""Run folders (docs/science.md §9 "Run folder"): ``runs/<name>/<utc-time>-<id>/`` with ``config.yaml``,
``metrics.csv``,
``checkpoints/last.pt`` + ``best.pt`` (written atomically), ``grad_norms.csv`` and ``results.json``, plus
``train.lock`` while a process trains in it."""

from __future__ import annotations

import csv
import platform
import secrets
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from aelab.errors import AelabError
from aelab.process_lock import Holder, ProcessLock
from aelab.run_folder import CHECKPOINTS, checkpoint_path, load_checkpoint, read_config
from aelab.io import CsvLog, refuse_symlinks, torch_save_atomic, write_json_atomic, write_yaml_atomic

LOCK = "train.lock"
RUN_FILES = ("config.yaml", "metrics.csv", "grad_norms.csv", "results.json", "mean_image.pt", CHECKPOINTS,
             f"{CHECKPOINTS}/last.pt", f"{CHECKPOINTS}/best.pt", LOCK)
"""What a run writes in its folder (each refused when it is a symbolic link)."""

__all__ = ["CHECKPOINTS", "LOCK", "RUN_FILES", "CsvLog", "RunInUseError", "RunLock", "check_run_files",
           "checkpoint_path", "environment", "load_checkpoint", "new_run_folder", "read_config", "read_metrics",
           "save_checkpoint", "write_config", "write_results"]


def new_run_folder(name: str, root: str | Path = "runs") -> Path:
    """Create and return a fresh, uniquely named run folder under ``root/name``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = Path(root) / name / f"{stamp}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment() -> dict[str, Any]:
    """Versions and commit recorded with every run."""
    import torchvision

    import aelab

    return {"aelab": aelab.__version__, "torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
            "python": platform.python_version(), "git_commit": _git_commit()}


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    """``config.yaml``: every parameter plus the environment it ran in."""
    return write_yaml_atomic({"config": config, "environment": environment()}, folder / "config.yaml")


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write a checkpoint to a temporary file and rename it: an interruption never leaves half a file."""
    return torch_save_atomic(state, path)


def read_metrics(folder: str | Path) -> list[dict[str, Any]]:
    """Rows of a run's ``metrics.csv`` with numbers parsed."""
    def parse(value: str) -> Any:
        if value == "":
            return None
        try:
            return float(value)
        except ValueError:
            return value

    with (Path(folder) / "metrics.csv").open() as stream:
        return [{k: parse(v) for k, v in row.items()} for row in csv.DictReader(stream)]


def write_results(folder: Path, results: dict[str, Any]) -> Path:
    """``results.json`` (NaN written as null)."""
    return write_json_atomic(results, folder / "results.json")


def check_run_files(folder: str | Path) -> None:
    """Refuse a run folder where any file a run writes (:data:`RUN_FILES`) is a symbolic link."""
    refuse_symlinks(folder, RUN_FILES)


class RunInUseError(AelabError, RuntimeError):
    """Another live process holds the run folder's lock; the message names its PID."""


class RunLock:
    """``train.lock`` in a run folder (:class:`aelab.process_lock.ProcessLock`: created with ``O_CREAT | O_EXCL``,
    naming PID, host and the process's start time): one process at a time trains in a folder. A lock left by a
    process of this host that no longer exists is taken over; one held by a live process (or another host's)
    raises :class:`RunInUseError` naming its PID."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK
        self.lock = ProcessLock(self.path)
        self.held = False

    def _refuse(self, holder: Holder) -> RunInUseError:
        where = "" if holder.here else f" on host {holder.host}"
        return RunInUseError(f"{self.path.parent} is in use by another training process (PID {holder.pid}{where}); "
                             f"wait for it to finish, or delete {self.path} if that process is gone")

    def acquire(self) -> RunLock:
        """Take the lock (see the class); returns itself."""
        holder = self.lock.acquire()
        if holder is not None:
            raise self._refuse(holder)
        self.held = True
        return self

    def release(self) -> None:
        """Remove the lock when this process holds it."""
        if self.held:
            self.lock.release()
        self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
