"""Build the train/val/test datasets a run needs from its config: SynthAE or a published data set.

With ``normalization="dataset"`` the training split's mean image (patent CN109978074A) is computed at the training
image size, used by every split's transform and saved with the run as ``mean_image.pt``
(:func:`save_normalization`), from where :func:`aelab.load_run` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aelab.data import SynthAE, TaskDataset, eval_transform, kfold_indices, read_dataset, split_indices, train_transform
from aelab.data.sample import Sample
from aelab.data.transforms import compute_mean_image, mean_image_of, model_normalization
from aelab.errors import DatasetNotFoundError
from aelab.train.config import TrainConfig
from aelab.train.runs import save_checkpoint

SPLITS = ("train", "val", "test")
MEAN_IMAGE_FILE = "mean_image.pt"


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
    official split when the data has one, else a seeded split with ``config.fractions`` (docs/science.md §2: 70/10/20),
    stratified by the first task when it is a class label (SynthAE: by emotion)."""
    if config.data == "synthae":
        data = SynthAE(config.n_images, size=config.image_size, seed=config.seed, cache=True)
        samples = [data[i] for i in range(len(data))]  # factors and labels drawn once per image
        if config.folds:
            return _fold_split(samples, config)
        emotions = np.array([sample.labels["emotion"] for sample in samples])
        parts = split_indices(len(samples), config.fractions, seed=config.seed, stratify=emotions)
        return {name: [samples[int(i)] for i in parts[name]] for name in SPLITS}
    if config.root is None:
        raise ValueError(f"data={config.data!r} needs root= the folder of the data set")
    samples = read_dataset(config.data, config.root, **config.data_options)
    if not samples:
        raise DatasetNotFoundError(f"{config.root}: the {config.data!r} data set there holds no images; expected "
                                   "at least 3 labelled images to split into train/val/test")
    if config.folds:
        return _fold_split(samples, config)
    official = _official_split(samples)
    if official is not None:
        return official
    stratify = _stratify_labels(samples, config.tasks[0])
    parts = split_indices(len(samples), config.fractions, seed=config.seed, stratify=stratify)
    return {name: [samples[int(i)] for i in parts[name]] for name in SPLITS}


PRERENDER_FROM = 1000
"""Fewer SynthAE images than this render on demand: starting processes would cost more than they save."""


def prerender_synthae(config: TrainConfig, workers: int) -> int:
    """Render a SynthAE run's images up front in ``workers`` processes (:meth:`aelab.data.SynthAE.prerender`),
    so that the first epoch does not render them one by one on the training thread; returns how many were
    rendered. Only for a whole run (no ``max_batches``) of at least :data:`PRERENDER_FROM` images on more than one
    core; the pixels are the same either way."""
    if config.data != "synthae" or config.max_batches is not None or workers < 2 or config.n_images < PRERENDER_FROM:
        return 0
    return SynthAE(config.n_images, size=config.image_size, seed=config.seed, cache=True).prerender(workers=workers)


def build_datasets(config: TrainConfig, mean_image: torch.Tensor | None = None) -> dict[str, TaskDataset]:
    """``TaskDataset`` per split with the docs/science.md §2 transforms at ``config.image_size``.
    ``normalization="dataset"``
    subtracts ``mean_image``, by default the training split's mean image at ``config.image_size``."""
    parts = split_samples(config)
    if config.normalization == "dataset" and mean_image is None:
        mean_image = compute_mean_image(parts["train"], config.image_size)
    options = {"normalization": config.normalization, "mean_image": mean_image}
    evaluation = eval_transform(config.image_size, **options)
    training = train_transform(config.image_size, crop=config.crop, **options) if config.augment else evaluation
    return {
        name: TaskDataset(parts[name], config.tasks, training if name == "train" else evaluation,
                          soft_aesthetic=config.soft_aesthetic if name == "train" else None,
                          aesthetic_target=config.aesthetic_target)
        for name in SPLITS if parts[name]
    }


def save_normalization(model: nn.Module, normalization: str, datasets: Mapping[str, TaskDataset],
                       folder: Path | None) -> None:
    """Give ``model`` the input normalisation its datasets apply (``model.normalization``) and, when they subtract
    a mean image, save it as ``folder / mean_image.pt`` (``folder`` None: save nothing)."""
    mean_image = next((m for m in (mean_image_of(d.transform) for d in datasets.values()) if m is not None), None)
    model.normalization = model_normalization(normalization, mean_image)
    if folder is not None and mean_image is not None:
        save_checkpoint({"mean_image": mean_image.detach().cpu()}, Path(folder) / MEAN_IMAGE_FILE)
