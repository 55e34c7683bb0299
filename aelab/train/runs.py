"""Run folders (DESIGN.md "Run folder"): ``runs/<name>/<utc-time>-<id>/`` with ``config.yaml``, ``metrics.csv``,
``checkpoints/last.pt`` + ``best.pt`` (written atomically), ``grad_norms.csv`` and ``results.json``."""

from __future__ import annotations

import csv
import os
import platform
import secrets
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml

from aelab.errors import AelabError
from aelab.notebook import write_json_atomic

CHECKPOINTS = "checkpoints"


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


def _atomic_path(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    """``config.yaml``: every parameter plus the environment it ran in."""
    path = folder / "config.yaml"
    handle, temporary = _atomic_path(path)
    with os.fdopen(handle, "w") as stream:
        yaml.safe_dump({"config": config, "environment": environment()}, stream, sort_keys=False)
    os.replace(temporary, path)
    return path


def read_config(folder: str | Path) -> dict[str, Any]:
    """The ``config`` section of a run's ``config.yaml``."""
    path = Path(folder) / "config.yaml"
    if not path.exists():
        raise AelabError(f"{path} not found: {folder} is not a run folder")
    return yaml.safe_load(path.read_text())["config"]


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write a checkpoint to a temporary file and rename it: an interruption never leaves half a file."""
    handle, temporary = _atomic_path(path)
    os.close(handle)
    torch.save(state, temporary)
    os.replace(temporary, path)
    return path


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


class CsvLog:
    """Append-only CSV with a fixed header: the union of the keys of the first rows written together
    (or the existing file's header)."""

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] | None = None
        if path.exists() and path.stat().st_size:
            with path.open() as stream:
                self.fields = next(csv.reader(stream))

    def append(self, *rows: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(dict.fromkeys(key for row in rows for key in row))
            with self.path.open("w", newline="") as stream:
                csv.writer(stream).writerow(self.fields)
        with self.path.open("a", newline="") as stream:
            csv.DictWriter(stream, self.fields, extrasaction="ignore").writerows(rows)

    def truncate_after(self, epoch: int) -> None:
        """Drop rows of epochs after ``epoch`` (a resumed run rewrites them)."""
        if self.fields is None:
            return
        with self.path.open() as stream:
            rows = [r for r in csv.DictReader(stream) if int(r["epoch"]) <= epoch]
        with self.path.open("w", newline="") as stream:
            writer = csv.DictWriter(stream, self.fields)
            writer.writeheader()
            writer.writerows(rows)


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
    return write_json_atomic(results, folder / "results.json")
