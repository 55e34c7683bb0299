"""Held-out example images of a run's data, ready for the visualisations: model input, pixels and labels.

It sits beside the run loader (:mod:`aelab.load`), below :mod:`aelab.viz`: it reads a run's config and its data, and
``LoadedRun.examples`` uses it; ``aelab.viz.examples`` gives the same names to the notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aelab.data import SynthAE, eval_transform
from aelab.data.sample import Sample

HELD_OUT_SEED_OFFSET = 10_000  # SynthAE examples come from another seed than the training set


@dataclass
class Examples:
    """``images``: the model's input (normalised as in training); ``pixels``: the same images in [0, 1] for
    display; ``labels``: canonical labels per key; ``boxes``: SynthAE's subject boxes (None for real data)."""

    images: torch.Tensor
    pixels: torch.Tensor
    labels: dict[str, np.ndarray]
    boxes: list[list[float]] | None
    samples: list[Sample]

    def where(self, key: str, value: int) -> torch.Tensor:
        """Indices of the examples whose label ``key`` equals ``value``."""
        return torch.from_numpy(np.flatnonzero(self.labels[key] == value))


def _samples(config: dict[str, Any], n: int, seed: int) -> list[Sample]:
    if config.get("data", "synthae") == "synthae":
        data = SynthAE(n, size=config["image_size"], seed=config.get("seed", 0) + HELD_OUT_SEED_OFFSET + seed)
        return [data[i] for i in range(n)]
    from aelab.train.config import TrainConfig
    from aelab.train.data import split_samples

    return split_samples(TrainConfig.from_dict(config))["test"][:n]


def examples(config: dict[str, Any], n: int = 32, seed: int = 0) -> Examples:
    """``n`` images the run was not trained on (SynthAE: a held-out seed; real data: the test split)."""
    samples = _samples(config, n, seed)
    size, normalization = config["image_size"], config.get("normalization", "imagenet")
    to_input, to_pixels = eval_transform(size, normalization=normalization), eval_transform(size, normalization="none")
    loaded = [s.load_image() for s in samples]
    keys = sorted({k for s in samples for k, v in s.labels.items() if isinstance(v, (int, float))})
    labels = {k: np.array([s.labels.get(k, -1) for s in samples]) for k in keys}
    boxes = [s.factors["subject_box"] for s in samples] if all(s.factors for s in samples) else None
    return Examples(torch.stack([to_input(im) for im in loaded]), torch.stack([to_pixels(im) for im in loaded]),
                    labels, boxes, samples)
