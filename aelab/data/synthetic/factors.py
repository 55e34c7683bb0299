"""Draw one SynthAE image's factors (its ground truth) and derive its labels, before anything is drawn.

Drawing the factors is cheap, so labels, statistics and splits never need to render images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aelab.data.synthetic import recipes as R
from aelab.tasks import EMOTIONS, STYLES, high_aesthetic, is_positive


def factor_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """Independent random stream per (seed, image, purpose): factors 0, pixels 1, comments 2."""
    return np.random.default_rng([seed, index, stream])


def _chance(rng: np.random.Generator, p: float | dict[bool, float], positive: bool) -> bool:
    probability = p[positive] if isinstance(p, dict) else p
    return bool(rng.random() < probability)


def _palette(rng: np.random.Generator, hue: float, harmony: str) -> list[float]:
    """Hues (degrees) of background and subject colours under a harmony rule."""
    offsets = R.HARMONY_OFFSETS[harmony]
    if offsets is None:  # a clash: offsets that no harmony rule produces
        offsets = (float(rng.uniform(55, 95)), float(rng.uniform(140, 165)))
    return [hue % 360] + [(hue + o + rng.normal(0, 6)) % 360 for o in offsets]


def _subject_box(rng: np.random.Generator, composition: str, macro: bool) -> list[float]:
    """Normalised (x0, y0, x1, y1) of the main subject before clipping to the frame."""
    size = rng.uniform(0.5, 0.68) if macro else rng.uniform(0.26, 0.38)
    if composition == "thirds":
        cx, cy = rng.choice([1 / 3, 2 / 3]), rng.choice([1 / 3, 2 / 3])
        cx, cy = cx + rng.normal(0, 0.02), cy + rng.normal(0, 0.02)
    elif composition == "centred":
        cx, cy = 0.5 + rng.normal(0, 0.02), 0.5 + rng.normal(0, 0.02)
    elif composition == "cramped":  # too big and squeezed into a corner
        size = max(size, rng.uniform(0.55, 0.7))
        cx = rng.choice([size / 2, 1 - size / 2])
        cy = rng.choice([size / 2, 1 - size / 2])
    else:  # cut_off: centre near an edge so a good part lies outside the frame
        edge = rng.integers(4)
        along = rng.uniform(0.3, 0.7)
        out = rng.uniform(0.0, 0.06)
        cx, cy = [(out, along), (1 - out, along), (along, out), (along, 1 - out)][edge]
    half = size / 2
    return [float(cx - half), float(cy - half), float(cx + half), float(cy + half)]


def draw_factors(seed: int, index: int) -> dict[str, Any]:
    """All latent factors of image ``index`` of the SynthAE set with ``seed``: recipe, palette, composition,
    effects, latent quality and the 10 simulated raters' scores (UAE protocol, docs/science.md §1)."""
    rng = factor_rng(seed, index, 0)
    emotion = int(rng.integers(len(EMOTIONS)))
    positive = is_positive(emotion)
    recipe_of = {attribute: EMOTIONS[emotion] for attribute in R.BORROWABLE}
    if rng.random() < R.BORROW_PROBABILITY:
        attribute = R.BORROWABLE[rng.integers(len(R.BORROWABLE))]
        recipe_of[attribute] = EMOTIONS[rng.integers(len(EMOTIONS))]
    hue_recipe, tone_recipe = R.RECIPES[recipe_of["hue"]], R.RECIPES[recipe_of["tone"]]
    shape_recipe, texture_recipe = R.RECIPES[recipe_of["shapes"]], R.RECIPES[recipe_of["texture"]]

    hue = hue_recipe.hue + rng.uniform(-hue_recipe.hue_spread, hue_recipe.hue_spread)
    harmony_rules = [h for h in R.HARMONY_OFFSETS if h != "clashing"]
    harmony = "clashing" if rng.random() < R.CLASH_PROBABILITY[positive] else str(rng.choice(harmony_rules))
    composition = str(rng.choice(R.COMPOSITIONS, p=R.COMPOSITION_PROBABILITY[positive]))
    effects = sorted(name for name, p in R.EFFECT_PROBABILITY.items() if _chance(rng, p, positive))
    if "light_on_white" in effects and "silhouettes" in effects:  # a silhouette needs a bright sky, not white
        effects.remove("light_on_white")
    blur = float(rng.uniform(*R.BLUR_SIGMA)) if rng.random() < R.BLUR_PROBABILITY else 0.0
    noise = float(rng.uniform(*R.NOISE_SD)) if _chance(rng, R.NOISE_PROBABILITY, positive) else 0.0

    quality_terms = {
        "composition": R.COMPOSITION_QUALITY[composition],
        "harmony": R.HARMONY_QUALITY[harmony],
        "sharpness": R.BLUR_QUALITY_PER_SIGMA * blur,
        "noise": R.NOISE_QUALITY_PER_SD * noise,
        "valence": R.VALENCE_QUALITY[positive],
        "effects": sum(R.EFFECT_QUALITY.get(e, 0.0) for e in effects),
        "taste": float(rng.normal(0, R.TASTE_SD)),
    }
    quality = R.QUALITY_CENTRE + R.QUALITY_SCALE * sum(quality_terms.values())
    perceived = quality + rng.normal(0, R.RATER_SD, size=R.N_RATERS)
    ratings = [R.RATING_LEVELS[k] for k in np.searchsorted(R.RATING_CUTS, perceived)]

    style_used = set(effects)
    if composition == "thirds":
        style_used.add("rule_of_thirds")
    if harmony == "complementary":
        style_used.add("complementary_colors")
    if noise > 0:
        style_used.add("image_grain")

    return {
        "emotion": emotion,
        "recipe_of": recipe_of,
        "hue": float(hue % 360),
        "saturation": float(rng.uniform(*tone_recipe.saturation)),
        "brightness": float(rng.uniform(*tone_recipe.brightness)),
        "shape": str(rng.choice(shape_recipe.shapes)),
        "companions": int(rng.integers(shape_recipe.companions[0], shape_recipe.companions[1] + 1)),
        "granularity": float(rng.uniform(*texture_recipe.granularity)),
        "clutter": int(rng.integers(texture_recipe.clutter[0], texture_recipe.clutter[1] + 1)),
        "harmony": harmony,
        "palette_hues": _palette(rng, hue, harmony),
        "composition": composition,
        "subject_box_unclipped": _subject_box(rng, composition, "macro" in effects),
        "effects": effects,
        "blur": blur,
        "noise": noise,
        "quality_terms": quality_terms,
        "quality": float(quality),
        "ratings": ratings,
        "style": [float(s in style_used) for s in STYLES],
    }


def labels_from_factors(factors: dict[str, Any]) -> dict[str, Any]:
    """Canonical labels (docs/science.md §9) of one image: emotion, sentiment, aesthetic score and class, style."""
    score = float(np.mean(factors["ratings"]))
    return {
        "emotion": factors["emotion"],
        "sentiment": int(is_positive(factors["emotion"])),
        "aesthetic_score": score,
        "aesthetic": high_aesthetic(score),
        "style": list(factors["style"]),
    }
