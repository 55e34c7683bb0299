"""Held-out SynthAE images with the ground truth the checks compare against: valence and subject box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aelab.data import SynthAE
from aelab.errors import ConfigError
from aelab.examples import HELD_OUT_SEED_OFFSET
from aelab.load import LoadedRun
from aelab.tasks import is_positive


@dataclass
class HeldOut:
    """``pixels`` (N, 3, H, W) RGB in [0, 1]; ``emotion`` (N,) class indices; ``positive`` (N,) bool valence;
    ``boxes`` the subject boxes (normalised x0, y0, x1, y1, clipped to the frame)."""

    pixels: torch.Tensor
    emotion: np.ndarray
    positive: np.ndarray
    boxes: list[list[float]]

    def __len__(self) -> int:
        return len(self.pixels)


def held_out(source: LoadedRun | int, n: int = 200, seed: int = 0) -> HeldOut:
    """``n`` SynthAE images no model was trained on: a run's own held-out examples (its image size and data seed;
    :meth:`aelab.load.LoadedRun.examples`), or, given an image side in pixels, those of seed
    ``HELD_OUT_SEED_OFFSET + seed``."""
    if int(n) != n or n < 1:
        raise ConfigError("held-out images n", n, "a positive number of images")
    if isinstance(source, LoadedRun):
        if source.config.get("data", "synthae") != "synthae":
            raise ConfigError(f"{source.folder}: data", source.config.get("data"),
                              "a run trained on SynthAE (only it has planted factors to check against)")
        examples = source.examples(int(n), seed=seed)
        emotion = np.array([s.factors["emotion"] for s in examples.samples])
        return HeldOut(examples.pixels, emotion, np.array([is_positive(e) for e in emotion]), examples.boxes)
    from torchvision.transforms.functional import to_tensor

    data = SynthAE(int(n), size=int(source), seed=HELD_OUT_SEED_OFFSET + seed)
    emotion = data.label_array("emotion")
    pixels = torch.stack([to_tensor(data.render(i)) for i in range(len(data))])
    boxes = [data.factors(i)["subject_box"] for i in range(len(data))]
    return HeldOut(pixels, emotion, np.array([is_positive(int(e)) for e in emotion]), boxes)
