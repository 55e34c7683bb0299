"""Build the train/val/test datasets a run needs from its config: SynthAE or a published data set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aelab.data import SynthAE, TaskDataset, eval_transform, kfold_indices, read_dataset, split_indices, train_transform
from aelab.data.sample import Sample
from aelab.train.config import TrainConfig

SPLITS = ("train", "val", "test")


def _official_split(samples: Sequence[Sample]) -> dict[str, list[Sample]] | None:
    """The data set's own split (UAE's lists) when every sample carries one."""
    if not samples or any(s.meta.get("split") not in SPLITS for s in samples):
        return None
    return {name: [s for s in samples if s.meta["split"] == name] for name in SPLITS}


def _stratify_labels(samples: Sequence[Sample], task: str) -> np.ndarray | None:
    values = [s.labels.get(task) for s in samples]
    if any(not isinstance(v, (int, np.integer)) for v in values):
        return None
    labels = np.asarray(values)
    return labels if np.bincount(labels).min(initial=len(labels)) >= 2 else None


def _fold_split(samples: Sequence[Sample], config: TrainConfig) -> dict[str, list[Sample]]:
    """Cross-validation fold ``config.fold`` of ``config.folds`` (paper 004: stratified 5-fold): the fold is the
    test split, the rest the training split, no validation split (the last epoch's model is kept)."""
    task = config.tasks[0]
    labels = [s.labels.get(task) for s in samples]
    if any(not isinstance(v, (int, np.integer)) for v in labels):
        raise ValueError(f"folds={config.folds} needs a class label {task!r} (the first task) on every sample")
    train, test = kfold_indices(labels, config.folds, seed=config.seed)[config.fold]
    return {"train": [samples[int(i)] for i in train], "val": [], "test": [samples[int(i)] for i in test]}


def split_samples(config: TrainConfig) -> dict[str, list[Sample]]:
    """Samples per split: with ``config.folds`` one cross-validation fold (:func:`_fold_split`); else the
    official split when the data has one, else a seeded split with ``config.fractions`` (METHODS §2: 70/10/20),
    stratified by the first task when it is a class label (SynthAE: by emotion)."""
    if config.data == "synthae":
        data = SynthAE(config.n_images, size=config.image_size, seed=config.seed, cache=True)
        if config.folds:
            return _fold_split([data[i] for i in range(len(data))], config)
        parts = split_indices(len(data), config.fractions, seed=config.seed, stratify=data.label_array("emotion"))
        return {name: [data[int(i)] for i in parts[name]] for name in SPLITS}
    if config.root is None:
        raise ValueError(f"data={config.data!r} needs root= the folder of the data set")
    samples = read_dataset(config.data, config.root, **config.data_options)
    if config.folds:
        return _fold_split(samples, config)
    official = _official_split(samples)
    if official is not None:
        return official
    stratify = _stratify_labels(samples, config.tasks[0])
    parts = split_indices(len(samples), config.fractions, seed=config.seed, stratify=stratify)
    return {name: [samples[int(i)] for i in parts[name]] for name in SPLITS}


def build_datasets(config: TrainConfig) -> dict[str, TaskDataset]:
    """``TaskDataset`` per split with the METHODS §2 transforms at ``config.image_size``."""
    evaluation = eval_transform(config.image_size, normalization=config.normalization)
    training = train_transform(config.image_size, normalization=config.normalization) if config.augment else evaluation
    parts = split_samples(config)
    return {
        name: TaskDataset(parts[name], config.tasks, training if name == "train" else evaluation)
        for name in SPLITS if parts[name]
    }
