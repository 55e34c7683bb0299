"""Summaries of a SynthAE set and a linear probe that shows its labels are learnable, but not trivially."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aelab.data.synthetic.dataset import SynthAE
from aelab.tasks import EMOTIONS, STYLES, is_positive


def label_summary(data: SynthAE) -> dict[str, Any]:
    """Class counts, high-aesthetic rate per emotion and valence, style tag rates (no rendering needed)."""
    emotion = data.label_array("emotion")
    aesthetic = data.label_array("aesthetic")
    style = data.label_array("style")
    positive = np.array([is_positive(e) for e in emotion])
    return {
        "n": len(data),
        "emotion_counts": {name: int((emotion == k).sum()) for k, name in enumerate(EMOTIONS)},
        "high_rate": float(aesthetic.mean()),
        "high_rate_by_emotion": {name: float(aesthetic[emotion == k].mean()) if (emotion == k).any() else float("nan")
                                 for k, name in enumerate(EMOTIONS)},
        "high_rate_positive": float(aesthetic[positive].mean()) if positive.any() else float("nan"),
        "high_rate_negative": float(aesthetic[~positive].mean()) if (~positive).any() else float("nan"),
        "style_rates": {name: float(style[:, k].mean()) for k, name in enumerate(STYLES)},
        "mean_score": float(data.label_array("aesthetic_score").mean()),
    }


def probe_features(images: np.ndarray) -> np.ndarray:
    """Hand-made features of N×H×W×3 images in [0, 1]: a coarse 8×8 colour layout, colour mean and spread,
    and high-frequency energy (grain, clutter, blur)."""
    n, height, width, _ = images.shape
    if height % 8 or width % 8:
        raise ValueError(f"probe_features needs sides divisible by 8, got {height}×{width}")
    layout = images.reshape(n, 8, height // 8, 8, width // 8, 3).mean((2, 4)).reshape(n, -1)
    dx = np.abs(np.diff(images, axis=2)).mean((1, 2, 3))[:, None]
    dy = np.abs(np.diff(images, axis=1)).mean((1, 2, 3))[:, None]
    return np.concatenate([layout, images.mean((1, 2)), images.std((1, 2)), dx, dy], axis=1)


def linear_probe(data: SynthAE, tasks: tuple[str, ...] = ("emotion", "aesthetic"), train_fraction: float = 0.75,
                 seed: int = 0) -> dict[str, dict[str, float]]:
    """Logistic regression on :func:`probe_features`: held-out accuracy and the majority-class baseline per task."""
    images = np.stack([np.asarray(data.render(i), dtype=np.float32) / 255 for i in range(len(data))])
    features = probe_features(images)
    order = np.random.default_rng(seed).permutation(len(data))
    cut = int(train_fraction * len(data))
    train, test = order[:cut], order[cut:]
    results = {}
    for task in tasks:
        labels = data.label_array(task)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.1))
        model.fit(features[train], labels[train])
        majority = float(np.bincount(labels[test]).max() / len(test))
        results[task] = {"accuracy": float(model.score(features[test], labels[test])), "majority": majority}
    return results
