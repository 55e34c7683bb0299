"""Task definitions and the canonical label names every reader converts to (docs/science.md §1).

A sample's labels are a dict with these keys (any subset):

- ``aesthetic``        0 low / 1 high (UAE/IAE/AVA: mean score > 5)
- ``aesthetic_score``  float in [1, 10], the raters' mean
- ``emotion``          0..7 in FI alphabetical order (:data:`EMOTIONS`)
- ``sentiment``        0 negative / 1 positive
- ``style``            14 floats (0/1) in AVA order (:data:`STYLES`)
- ``comments``         list of str
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aelab.errors import UnknownNameError

EMOTIONS: tuple[str, ...] = (
    "amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear", "sadness",
)
"""The 8 emotion classes in FI (alphabetical) order; the index is the canonical ``emotion`` label."""

POSITIVE_EMOTIONS: frozenset[str] = frozenset({"amusement", "awe", "contentment", "excitement"})
"""Emotions of positive valence; the other four are negative."""

STYLES: tuple[str, ...] = (
    "complementary_colors", "duotones", "hdr", "image_grain", "light_on_white", "long_exposure",
    "macro", "motion_blur", "negative_image", "rule_of_thirds", "shallow_dof", "silhouettes",
    "soft_focus", "vanishing_point",
)
"""AVA's 14 photographic style tags in the order of ``style_image_lists/styles.txt``."""

SENTIMENTS: tuple[str, ...] = ("negative", "positive")
AESTHETIC_CLASSES: tuple[str, ...] = ("low", "high")

HIGH_AESTHETIC_THRESHOLD = 5.0
"""An image is high-aesthetic when its mean score is strictly above this (docs/science.md §1)."""


@dataclass(frozen=True)
class Task:
    """A prediction target: its canonical label key, what kind of output it needs and its class names.

    ``kind`` is a key of :data:`aelab.task_kinds.TASK_KINDS` (``binary``, ``multiclass``, ``multilabel``,
    ``regression``, ``text``), the entry that says how the task is trained, scored and read."""

    name: str
    kind: str
    classes: tuple[str, ...] = ()


TASKS: dict[str, Task] = {
    "aesthetic": Task("aesthetic", "binary", AESTHETIC_CLASSES),
    "aesthetic_score": Task("aesthetic_score", "regression"),
    "emotion": Task("emotion", "multiclass", EMOTIONS),
    "sentiment": Task("sentiment", "binary", SENTIMENTS),
    "style": Task("style", "multilabel", STYLES),
    "comments": Task("comments", "text"),
}
"""Registry of the canonical tasks by label key."""


def get_task(task: str | Task) -> Task:
    """Return the :class:`Task` for a name (or the task itself)."""
    if isinstance(task, Task):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise UnknownNameError("task", task, list(TASKS)) from None


def is_positive(emotion: int) -> bool:
    """Valence of an FI-order emotion index: True for amusement, awe, contentment, excitement."""
    return EMOTIONS[emotion] in POSITIVE_EMOTIONS


def high_aesthetic(score: float) -> int:
    """The binary ``aesthetic`` label of a mean score: 1 when the score is above 5."""
    return int(score > HIGH_AESTHETIC_THRESHOLD)


def soft_aesthetic(score: float, temperature: float) -> float:
    """A soft target for the binary ``aesthetic`` head: ``σ((score − 5) / temperature)``, the raters' mean score
    mapped to a probability of "high" that is 1/2 at the threshold and tends to the 0/1 label as the temperature
    (in score points) goes to 0. An image rated 5.1 and one rated 8 both have the label 1, but only the second is
    surely high: trained on this target, the head is not asked to be certain where the raters were not."""
    if temperature <= 0:
        raise ValueError(f"soft_aesthetic: temperature must be > 0, got {temperature}")
    return float(1.0 / (1.0 + math.exp(-(score - HIGH_AESTHETIC_THRESHOLD) / temperature)))
