"""SynthAE's planted factors: one visual recipe per emotion and the aesthetic rules.

Positive emotions read soft and harmonious (smooth gradients, rounded shapes, light colours); negative
ones granular and disordered (noise, clutter, jagged shards, dark or muddy colours), mirroring what
paper 004's neuron groups showed for real positive/negative images (docs/science.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass

from aelab.tasks import EMOTIONS


@dataclass(frozen=True)
class Recipe:
    """How an emotion looks: hue family (degrees), saturation/brightness ranges, shapes and texture."""

    hue: float
    hue_spread: float
    saturation: tuple[float, float]
    brightness: tuple[float, float]
    shapes: tuple[str, ...]
    granularity: tuple[float, float]  # amplitude of per-pixel colour speckle on the background
    clutter: tuple[int, int]  # number of small random strokes / specks behind the subject
    companions: tuple[int, int]  # extra small shapes of the same vocabulary


RECIPES: dict[str, Recipe] = {
    "amusement": Recipe(45, 22, (0.65, 0.95), (0.78, 1.0), ("circle", "blob"), (0.0, 0.02), (0, 1), (2, 4)),
    "anger": Recipe(4, 16, (0.7, 1.0), (0.4, 0.7), ("shard", "triangle"), (0.08, 0.16), (6, 12), (0, 2)),
    "awe": Recipe(205, 22, (0.35, 0.7), (0.72, 0.98), ("blob", "circle"), (0.0, 0.02), (0, 1), (0, 1)),
    "contentment": Recipe(110, 25, (0.3, 0.6), (0.62, 0.9), ("blob",), (0.0, 0.03), (0, 1), (1, 2)),
    "disgust": Recipe(72, 18, (0.35, 0.65), (0.3, 0.58), ("blob", "shard"), (0.07, 0.14), (5, 10), (1, 3)),
    "excitement": Recipe(318, 22, (0.7, 1.0), (0.72, 1.0), ("star", "circle"), (0.0, 0.04), (0, 2), (2, 4)),
    "fear": Recipe(268, 20, (0.2, 0.5), (0.15, 0.4), ("shard", "triangle"), (0.08, 0.16), (6, 12), (0, 2)),
    "sadness": Recipe(222, 18, (0.08, 0.32), (0.3, 0.55), ("circle", "blob"), (0.05, 0.11), (3, 7), (0, 1)),
}
assert tuple(RECIPES) == EMOTIONS

BORROW_PROBABILITY = 0.3
"""Chance that one recipe attribute is taken from another emotion, so 8-way accuracy is not trivial."""

BORROWABLE = ("hue", "tone", "shapes", "texture")
"""Recipe attributes that may be borrowed: hue family, saturation+brightness, shape vocabulary, texture."""

# Composition: where the main subject sits and how much it adds to latent quality.
COMPOSITIONS = ("thirds", "centred", "cramped", "cut_off")
COMPOSITION_QUALITY = {"thirds": 0.8, "centred": 0.0, "cramped": -1.2, "cut_off": -1.5}
COMPOSITION_PROBABILITY = {  # by valence: positive images are better composed more often
    True: (0.45, 0.30, 0.12, 0.13),
    False: (0.25, 0.30, 0.22, 0.23),
}

# Colour harmony: palette rules (hue offsets of the subject colours) vs a clash.
HARMONY_OFFSETS = {
    "analogous": (30.0,),
    "complementary": (180.0,),
    "triadic": (120.0, 240.0),
    "monochrome": (0.0,),
    "clashing": None,  # drawn at random between the rules
}
HARMONY_QUALITY = {"analogous": 0.8, "complementary": 0.8, "triadic": 0.6, "monochrome": 0.6, "clashing": -1.0}
CLASH_PROBABILITY = {True: 0.25, False: 0.5}

VALENCE_QUALITY = {True: 0.25, False: -0.25}
BLUR_PROBABILITY = 0.35  # chance that the whole image is out of focus
BLUR_SIGMA = (0.8, 2.0)  # in units of 1/64 of the image side
BLUR_QUALITY_PER_SIGMA = -1.0
NOISE_PROBABILITY = {True: 0.25, False: 0.4}  # sensor grain (the "image grain" style)
NOISE_SD = (0.05, 0.12)
NOISE_QUALITY_PER_SD = -9.0
TASTE_SD = 0.35  # unobserved part of quality: keeps the aesthetic task from being perfectly learnable

# Latent quality -> the UAE rating protocol (10 raters, Excellent 10 / Good 7 / Fair 4 / Bad 1).
QUALITY_CENTRE = 6.05
QUALITY_SCALE = 0.9
RATER_SD = 1.5
RATING_LEVELS = (1, 4, 7, 10)
RATING_CUTS = (2.5, 5.5, 8.5)
N_RATERS = 10

# Optional photographic effects, each an AVA style tag; probability of use (by valence where it matters).
EFFECT_PROBABILITY = {
    "duotones": 0.06,
    "hdr": 0.06,
    "light_on_white": {True: 0.09, False: 0.03},
    "long_exposure": 0.05,
    "macro": 0.07,
    "motion_blur": 0.06,
    "negative_image": 0.04,
    "shallow_dof": 0.08,
    "silhouettes": {True: 0.08, False: 0.04},
    "soft_focus": {True: 0.08, False: 0.04},
    "vanishing_point": 0.06,
}
EFFECT_QUALITY = {"hdr": -0.2, "negative_image": -0.3, "shallow_dof": 0.3, "silhouettes": 0.2}
