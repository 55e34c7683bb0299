"""Cross-data-set evaluation: a trained run tested on another data set without retraining.

Paper 003 (Yu et al., ICIP 2019, Table 2) trains every model on IAE only and tests it on AVA (aesthetic accuracy)
and ArtPhoto (emotion accuracy). ``evaluate(run, data=KIND, root=ROOT)`` does this for any run and any reader of
:data:`aelab.data.formats.READERS`, on the tasks the run predicts and the data set labels, with the run's own
test-time transform (:meth:`aelab.load.LoadedRun.eval_transform`: its image size and input normalisation).

Which images (``split``):

- ``"test"`` (default): the test split a training run on that data set with the same ``seed`` and ``fractions``
  would hold out (:func:`aelab.train.data.split_samples`): the reader's official split when every image carries
  one (UAE, IAE), else the test part of the seeded 70/10/20 split, stratified by the first shared task when it is
  a class label. ``seed`` and ``fractions`` default to the run's own.
- ``"all"``: every image, the data set used only as a test set (what paper 003 did with AVA and ArtPhoto).

Metrics per task are those of training (:func:`aelab.train.metrics.compute_metrics`: accuracy and F1 for
classes, SRCC/PLCC/MSE for scores, mAP for tags) plus confusion matrices; :meth:`CrossSetResult.save` writes
``results.json``, ``table.md`` and ``table.csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aelab.errors import AelabError, ConfigError, DatasetNotFoundError

TEST_SPLIT = "test"
ALL_IMAGES = "all"
CHECKPOINTS = ("best", "last")


@dataclass
class CrossSetResult:
    """What :func:`evaluate` measured: per task its metrics, confusion matrix (class tasks) and image count."""

    run: str
    checkpoint: str
    data: str
    root: str
    split: str
    split_rule: str
    tasks: list[str]
    run_tasks: list[str]
    data_tasks: list[str]
    n_images: int
    images: dict[str, int]
    metrics: dict[str, dict[str, float]]
    losses: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, list] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes null)."""
        from dataclasses import asdict

        from aelab.io import jsonable

        return jsonable(asdict(self))

    def rows(self) -> list[dict[str, Any]]:
        """One table row per task: data set, task, images, then its metrics."""
        return [{"data": self.data, "task": task, "images": self.images[task], **self.metrics[task]}
                for task in self.tasks]

    def markdown(self) -> str:
        from aelab.notebook import markdown_table

        return (f"{self.run} on {self.data} ({self.root}), {self.split_rule}\n\n"
                + markdown_table(self.rows(), digits=4))

    def csv(self) -> str:
        rows = self.rows()
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns)
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``results.json``, ``table.md`` and ``table.csv`` into ``folder`` (created); returns their paths."""
        from aelab.io import write_json_atomic, write_text_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return {"results": write_json_atomic(self.to_dict(), folder / "results.json"),
                "markdown": write_text_atomic(self.markdown() + "\n", folder / "table.md"),
                "csv": write_text_atomic(self.csv(), folder / "table.csv")}


# ---- which images ------------------------------------------------------------------------------------------


def _test_part(samples: Sequence, tasks: Sequence[str], seed: int, fractions: Sequence[float]) -> tuple[list, str]:
    """The official test split, else the test part of the seeded split, chosen as training chooses them."""
    from aelab.data import split_indices
    from aelab.train.data import _official_split, _stratify_labels

    official = _official_split(samples)
    if official is not None:
        return official["test"], "the data set's official test split"
    stratify = _stratify_labels(samples, tasks[0])
    parts = split_indices(len(samples), fractions, seed=seed, stratify=stratify)
    by = f", stratified by {tasks[0]}" if stratify is not None else ""
    shares = "/".join(f"{100 * f:g}" for f in fractions)
    return [samples[int(i)] for i in parts["test"]], f"test part of the seeded {shares} split (seed {seed}{by})"


def _all_images(samples: Sequence, tasks: Sequence[str], seed: int, fractions: Sequence[float]) -> tuple[list, str]:
    return list(samples), "every image (the data set used only as a test set)"


SPLITS: dict[str, Callable[..., tuple[list, str]]] = {TEST_SPLIT: _test_part, ALL_IMAGES: _all_images}
"""Split name → ``(samples, tasks, seed, fractions) -> (the samples to evaluate, how they were chosen)``."""


# ---- checks ------------------------------------------------------------------------------------------------


def _check_arguments(data: str, root: str | Path, split: str, seed: int | None, fractions: Sequence[float] | None,
                     batch_size: int, device: str, checkpoint: str, output: str | Path | None) -> None:
    """Every argument before the run or the data are read; nothing is written."""
    from aelab.data.formats import READERS
    from aelab.train.config_checks import check_device, choices, integer
    from aelab.train.config_checks import fractions as check_fractions

    if data not in READERS:
        raise ConfigError("data", data, choices(data, READERS))
    if root is None or not Path(root).is_dir():
        raise ConfigError("root", None if root is None else str(root),
                          f"an existing folder holding the {data!r} data set")
    if split not in SPLITS:
        raise ConfigError("split", split, choices(split, SPLITS))
    integer(1)("batch_size", batch_size)
    if seed is not None:
        integer(0)("seed", seed)
    if fractions is not None:
        check_fractions("fractions", fractions)
    check_device("device", device)
    if checkpoint not in CHECKPOINTS:
        raise ConfigError("checkpoint", checkpoint, f"one of: {', '.join(CHECKPOINTS)}")
    if output is not None and Path(output).exists() and not Path(output).is_dir():
        raise ConfigError("output", str(output), "a folder to write results.json and the tables into, not a file")


def labelled_tasks(samples: Sequence) -> list[str]:
    """The registered label tasks (not text) that at least one sample carries, in registry order."""
    from aelab.task_kinds import kind_of
    from aelab.tasks import TASKS

    present = {key for sample in samples for key in sample.labels}
    return [name for name, task in TASKS.items() if name in present and kind_of(task).predicted]


def shared_tasks(run_tasks: Sequence[str], data_tasks: Sequence[str], asked: Sequence[str] | None,
                 run: str, data: str) -> list[str]:
    """``asked`` (each checked) or every run task the data set labels; none in common → one line naming both."""
    if asked:
        for task in asked:
            if task not in run_tasks:
                raise ConfigError("tasks", task, f"a task the run predicts: {', '.join(run_tasks)}")
            if task not in data_tasks:
                raise ConfigError("tasks", task, f"a task the {data!r} data set labels: {', '.join(data_tasks)}")
        return list(dict.fromkeys(asked))
    shared = [task for task in run_tasks if task in data_tasks]
    if not shared:
        raise AelabError(f"no task in common: the run {run} predicts {', '.join(run_tasks)}, the {data!r} data set "
                         f"labels {', '.join(data_tasks) or 'nothing'}")
    return shared


# ---- entry point -------------------------------------------------------------------------------------------


def evaluate(run: str | Path, data: str, root: str | Path, *, tasks: Sequence[str] | None = None,
             split: str = TEST_SPLIT, seed: int | None = None, fractions: Sequence[float] | None = None,
             data_options: Mapping[str, Any] | None = None, output: str | Path | None = None, batch_size: int = 64,
             device: str = "auto", checkpoint: str = "best") -> CrossSetResult:
    """Evaluate the trained ``run`` on the ``data`` data set at ``root`` (see the module docstring) for ``tasks``
    (default: every task both share) and, with ``output``, save the tables there."""
    import torch
    from torch.utils.data import DataLoader

    from aelab.data import TaskDataset, read_dataset
    from aelab.load import load_run
    from aelab.models.registry import resolve_task
    from aelab.data.splits import DEFAULT_FRACTIONS
    from aelab.train.config_checks import fractions as check_fractions
    from aelab.train.config_checks import integer
    from aelab.train.evaluation import evaluate as evaluate_split

    _check_arguments(data, root, split, seed, fractions, batch_size, device, checkpoint, output)
    loaded = load_run(run, checkpoint, device)
    run_tasks = [resolve_task(t).name for t in loaded.config["tasks"]]
    options = dict(data_options or {})
    samples = read_dataset(data, root, **options)
    if not samples:
        raise DatasetNotFoundError(f"{root}: the {data!r} data set there holds no images")
    data_tasks = labelled_tasks(samples)
    chosen = shared_tasks(run_tasks, data_tasks, tasks, str(run), data)
    seed = integer(0)("seed", loaded.config.get("seed", 0) if seed is None else seed)
    fractions = check_fractions("fractions", fractions or loaded.config.get("fractions", DEFAULT_FRACTIONS))
    test, rule = SPLITS[split](samples, chosen, seed, fractions)
    if not test:
        raise DatasetNotFoundError(f"{root}: the {data!r} data set has no images in its {split} split")
    dataset = TaskDataset(test, chosen, loaded.eval_transform())
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    task_objects = [resolve_task(t) for t in chosen]
    measured = evaluate_split(loaded.model, loader, task_objects, torch.device(loaded.device), confusion=True)
    result = CrossSetResult(
        run=str(loaded.folder), checkpoint=str(loaded.checkpoint), data=data, root=str(root), split=split,
        split_rule=rule, tasks=chosen, run_tasks=run_tasks, data_tasks=data_tasks, n_images=len(test),
        images={t: sum(t in s.labels for s in test) for t in chosen}, metrics=measured.metrics,
        losses=measured.losses, confusion=measured.confusion)
    if output is not None:
        result.save(output)
    return result
