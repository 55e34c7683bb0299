"""Predict with a trained run (the patent's last step): class probabilities and names for image files.

``predict(run, paths)`` loads the run's best checkpoint and its eval transform, reads images in batches and
returns a :class:`Predictions` table; unreadable files are listed in ``errors`` instead of stopping the run.
Sorting by ``aesthetic`` ranks a photo folder by predicted aesthetic probability (album curation).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from aelab.data.transforms import eval_transform
from aelab.errors import AelabError
from aelab.models import build_model
from aelab.models.inputs import call_model
from aelab.tasks import Task, get_task
from aelab.text.tokenize import join_comments
from aelab.train.distributed import pick_device
from aelab.train.runs import checkpoint_path, load_checkpoint, read_config

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
        path = Path(path)
        with path.open("w", newline="") as stream:
            self.write_csv(stream)
        return path

    def to_json(self) -> str:
        return json.dumps({"predictions": self.rows, "unreadable": self.errors}, indent=2)


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
    row: dict[str, Any] = {}
    for task in tasks:
        logits = outputs[task.name][index].float()
        if task.kind == "binary":
            probability = float(torch.sigmoid(logits))
            row[f"{task.name}_probability"] = probability
            row[task.name] = task.classes[int(probability > 0.5)]
        elif task.kind == "multiclass":
            probabilities = torch.softmax(logits, dim=-1)
            row.update({f"{task.name}_{name}": float(p) for name, p in zip(task.classes, probabilities)})
            row[task.name] = task.classes[int(probabilities.argmax())]
        elif task.kind == "multilabel":
            probabilities = torch.sigmoid(logits)
            row.update({f"{task.name}_{name}": float(p) for name, p in zip(task.classes, probabilities)})
            row[task.name] = ";".join(n for n, p in zip(task.classes, probabilities) if p > 0.5)
        else:
            row[f"{task.name}_score"] = float(logits)
    return row


def load_run_model(run: str | Path, checkpoint: str = "best", device: str = "auto") -> tuple[torch.nn.Module, dict]:
    """The model of a run folder with the weights of ``checkpoint`` (best or last), in eval mode, and its config."""
    config = read_config(run)
    path = checkpoint_path(run, checkpoint)
    if not path.exists() and checkpoint == "best":
        path = checkpoint_path(run, "last")
    target = pick_device(device)
    model = build_model(config["arch"], config["backbone"], tasks=config["tasks"], weights=None,
                        **config.get("model_options", {}))
    model.load_state_dict(load_checkpoint(path, target)["model"])
    return model.to(target).eval(), config


@torch.no_grad()
def predict(run: str | Path, paths: Iterable[str | Path] | str | Path, batch_size: int = 64,
            device: str = "auto", checkpoint: str = "best", progress: bool = True,
            comments: Mapping[str, Sequence[str]] | None = None) -> Predictions:
    """Probabilities of every task's classes and the predicted class names for image files or folders.

    ``comments`` (image–text runs): each image's comments by file path or file name; an image without an entry
    is predicted as an image without comments."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    model, config = load_run_model(run, checkpoint, device)
    target = next(model.parameters()).device
    transform = eval_transform(config["image_size"], normalization=config.get("normalization", "imagenet"))
    tasks = [get_task(t) for t in config["tasks"]]
    files = image_files(paths)
    result = Predictions()
    for start in tqdm(range(0, len(files), batch_size), desc="predicting", disable=not progress):
        batch, kept = [], []
        for path in files[start:start + batch_size]:
            try:
                with Image.open(path) as image:
                    batch.append(transform(image.convert("RGB")))
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
