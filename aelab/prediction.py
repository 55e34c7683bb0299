"""Predict with a trained run (the patent's last step): class probabilities and names for image files.

``predict(run, paths)`` loads the run's best checkpoint and its eval transform, reads images in batches and
returns a :class:`Predictions` table; unreadable files are listed in ``errors`` instead of stopping the run.
Sorting by ``aesthetic`` ranks a photo folder by predicted aesthetic probability (album curation).
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from PIL import UnidentifiedImageError
from tqdm.auto import tqdm

from aelab.data.images import open_rgb
from aelab.errors import AelabError, ConfigError
from aelab.io import write_atomic, write_text_atomic
from aelab.load import load_run
from aelab.models.inputs import call_model
from aelab.task_kinds import kind_of
from aelab.tasks import Task, get_task
from aelab.text.tokenize import join_comments
from aelab.train.config_checks import check_device, integer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class Predictions:
    """One row per readable image (path, per-task probabilities and predicted class) and the unreadable files."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def sorted_by(self, task: str, descending: bool = True) -> Predictions:
        """Rows ordered by the task's score column (``<task>_probability`` or ``<task>_score``)."""
        if not self.rows:
            return self
        key = next((k for k in (f"{task}_probability", f"{task}_score") if k in self.rows[0]), None)
        if key is None:
            raise AelabError(f"cannot sort by {task!r}: the run predicts {sorted(self.rows[0])}")
        return Predictions(sorted(self.rows, key=lambda r: r[key], reverse=descending), list(self.errors))

    def write_csv(self, stream: TextIO) -> None:
        writer = csv.DictWriter(stream, list(self.rows[0]) if self.rows else ["path"])
        writer.writeheader()
        writer.writerows(self.rows)

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV to ``path`` atomically (an existing file is replaced only once all is written)."""
        return write_atomic(path, self.write_csv)

    def to_json(self) -> str:
        return json.dumps({"predictions": self.rows, "unreadable": self.errors}, indent=2)

    def save(self, path: str | Path, kind: str = "csv") -> Path:
        """Write the table to ``path`` atomically as ``kind`` (a key of :data:`TABLE_FORMATS`: csv or json)."""
        if kind not in TABLE_FORMATS:
            raise ConfigError("format", kind, f"one of: {', '.join(TABLE_FORMATS)}")
        return TABLE_FORMATS[kind](self, path)


TABLE_FORMATS: dict[str, Callable[[Predictions, str | Path], Path]] = {
    "csv": Predictions.to_csv,
    "json": lambda table, path: write_text_atomic(table.to_json(), path),
}
"""Output format name → writer ``(table, path) -> path``."""

CHECKPOINTS = ("best", "last")

UNKNOWN_DOMAIN = "unknown"
SYNTHETIC_DOMAINS = {"synthae": "SynthAE"}
"""Data set kinds (a run's config ``data``) whose labels are planted factors of generated images → their name."""


class TrainingDomainWarning(UserWarning):
    """A run trained on generated images is used on photographs: its outputs describe the generator's factors."""


def training_domain(config: Mapping[str, Any]) -> str:
    """What a run was trained on: its config's ``data`` (a data set kind), or ``"unknown"`` when not recorded."""
    return str(config.get("data") or UNKNOWN_DOMAIN)


def warn_about_domain(config: Mapping[str, Any], run: str | Path, stacklevel: int = 3) -> None:
    """One :class:`TrainingDomainWarning` when the run at ``run`` was trained on synthetic data (SynthAE)."""
    name = SYNTHETIC_DOMAINS.get(training_domain(config))
    if name is not None:
        warnings.warn(f"{run} was trained on {name}: its predictions describe {name}'s planted factors, not the "
                      "photographs' aesthetics or emotion; for real photographs use a run trained on AVA, UAE, IAE "
                      "or FI", TrainingDomainWarning, stacklevel=stacklevel)


def check_output_path(path: str | Path, parameter: str = "output") -> Path:
    """``path`` as a Path after checking a table can be written there (its folder exists and is writable, it is
    not a folder itself), so that nothing is computed for an output that cannot be saved."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise ConfigError(parameter, str(path), "a file path, not a folder")
    if not folder.is_dir():
        raise ConfigError(parameter, str(path), f"a file in an existing folder ({folder} does not exist)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(parameter, str(path), f"a file in a folder you can write ({folder} is not writable)")
    return path


def _check_arguments(paths: Sequence[str | Path], batch_size: int, device: str, checkpoint: str) -> list[Path]:
    """Check :func:`predict`'s arguments before the model is loaded; the image files to predict."""
    integer(1)("batch_size", batch_size)
    check_device("device", device)
    if checkpoint not in CHECKPOINTS:
        raise ConfigError("checkpoint", checkpoint, f"one of: {', '.join(CHECKPOINTS)}")
    if not paths:
        raise ConfigError("paths", [], "at least one image file or folder")
    for path in map(Path, paths):
        if not path.exists():
            raise ConfigError("paths", str(path), "an existing image file or folder")
    files = image_files(paths)
    if not files:
        shown = ", ".join(map(str, paths))
        raise AelabError(f"no image files in {shown}; expected files ending in "
                         f"{', '.join(sorted(IMAGE_SUFFIXES))}")
    return files


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files given directly, plus image files found (recursively, sorted) in folders given."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        else:
            found.append(path)
    return found


def _row(tasks: Sequence[Task], outputs: dict[str, torch.Tensor], index: int) -> dict[str, Any]:
    """One image's columns: each task's probabilities (or score) and predicted class, as its kind reads them
    (:data:`aelab.task_kinds.TASK_KINDS`)."""
    row: dict[str, Any] = {}
    for task in tasks:
        row.update(kind_of(task).row(task, outputs[task.name][index].float()))
    return row


def load_run_model(run: str | Path, checkpoint: str = "best", device: str = "auto") -> tuple[torch.nn.Module, dict]:
    """The model of a run folder with the weights of ``checkpoint`` (best, else last), in eval mode and carrying
    the run's input normalisation, and its config (:func:`aelab.load.load_run` as a pair)."""
    loaded = load_run(run, checkpoint, device)
    return loaded.model, loaded.config


@torch.no_grad()
def predict(run: str | Path, paths: Iterable[str | Path] | str | Path, batch_size: int = 64,
            device: str = "auto", checkpoint: str = "best", progress: bool = True,
            comments: Mapping[str, Sequence[str]] | None = None) -> Predictions:
    """Probabilities of every task's classes and the predicted class names for image files or folders.

    ``comments`` (image–text runs): each image's comments by file path or file name; an image without an entry
    is predicted as an image without comments."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files = _check_arguments(paths, batch_size, device, checkpoint)
    loaded = load_run(run, checkpoint, device)
    warn_about_domain(loaded.config, loaded.folder)
    model, config, target, transform = loaded.model, loaded.config, loaded.device, loaded.eval_transform()
    tasks = [get_task(t) for t in config["tasks"]]
    result = Predictions()
    for start in tqdm(range(0, len(files), batch_size), desc="predicting", disable=not progress):
        batch, kept = [], []
        for path in files[start:start + batch_size]:
            try:
                batch.append(transform(open_rgb(path)))
                kept.append(path)
            except (OSError, UnidentifiedImageError, ValueError) as error:
                result.errors.append({"path": str(path), "error": f"{type(error).__name__}: {error}"})
        if not batch:
            continue
        texts = [join_comments((comments or {}).get(str(p), (comments or {}).get(p.name))) for p in kept]
        outputs = call_model(model, {"image": torch.stack(batch), "comments": texts}, target)
        for index, path in enumerate(kept):
            result.rows.append({"path": str(path), **_row(tasks, outputs, index)})
    return result
