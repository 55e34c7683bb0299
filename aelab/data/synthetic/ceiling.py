"""The best accuracy reachable on SynthAE (the Bayes-optimal "oracle") next to the majority-class baseline.

SynthAE's labels come from known factors plus hidden noise (:mod:`aelab.data.synthetic.factors`). An oracle that
sees every factor an image shows, but not the hidden part, is the ceiling any network can approach:

- **aesthetic**: the observable quality ``q_o`` (centre + scale × the composition, harmony, sharpness, noise,
  valence and effect terms) leaves out the per-image taste ``N(0, TASTE_SD)`` and the ten raters' noise. The
  probability of "high" (mean of the UAE-protocol ratings 10/7/4/1 > 5, docs/science.md §1) given ``q_o`` is computed
  exactly (Gauss–Hermite quadrature over the taste, the exact distribution of the ten ratings); it rises with
  ``q_o``, so the oracle answers "high" above the quality where it reaches one half.
- **emotion**: the posterior over the eight emotions given the realised recipe attributes (hue, tone, shapes and
  companions, texture), with recipe borrowing (one attribute taken from a random emotion) and the valence-dependent
  factors (harmony clash, composition, effects, grain) in the likelihood; the oracle answers its arg-max.
- **style**: every tag is a deterministic function of the factors, so the oracle is exact per tag.

Everything is numpy on the factors: no image is rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import ndtr

from aelab.data.synthetic import recipes as R
from aelab.data.synthetic.dataset import SynthAE
from aelab.data.synthetic.factors import labels_from_factors
from aelab.tasks import EMOTIONS, STYLES, is_positive

OBSERVABLE_TERMS = ("composition", "harmony", "sharpness", "noise", "valence", "effects")
"""Latent-quality terms an image shows; ``taste`` is the hidden one."""

CEILING_TASKS = ("aesthetic", "emotion", "style")


# ---- aesthetics ---------------------------------------------------------------------------------------------


def observable_quality(factors: dict[str, Any]) -> float:
    """Latent quality without the hidden taste term: ``QUALITY_CENTRE + QUALITY_SCALE · Σ observable terms``."""
    return R.QUALITY_CENTRE + R.QUALITY_SCALE * sum(factors["quality_terms"][t] for t in OBSERVABLE_TERMS)


def high_probability(quality: np.ndarray | float, taste_sd: float = R.TASTE_SD, points: int = 40) -> np.ndarray:
    """P(mean rating > 5 | observable quality): ten raters each see ``quality + scale·taste + N(0, RATER_SD)``,
    rate 1/4/7/10 by the cuts 2.5/5.5/8.5, and the image is high when the mean exceeds 5 (UAE protocol)."""
    quality = np.atleast_1d(np.asarray(quality, dtype=float))
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)  # ∫ f(z) φ(z) dz = Σ w f(z) / √(2π)
    weights = weights / weights.sum()
    latent = quality[:, None] + R.QUALITY_SCALE * taste_sd * nodes[None, :]
    cuts = np.asarray(R.RATING_CUTS, dtype=float)
    below = ndtr((cuts[None, None, :] - latent[..., None]) / R.RATER_SD)  # P(perceived < cut)
    level_p = np.diff(np.concatenate([np.zeros(latent.shape + (1,)), below, np.ones(latent.shape + (1,))], -1), axis=-1)
    # the sum of ten ratings in steps: each level is 1 + 3k, k = 0..3; mean > 5 ⇔ Σ k > (5·N − N) / 3
    total = np.zeros(latent.shape + (1,))
    total[..., 0] = 1.0
    for _ in range(R.N_RATERS):
        grown = np.zeros(total.shape[:-1] + (total.shape[-1] + len(R.RATING_LEVELS) - 1,))
        for k in range(len(R.RATING_LEVELS)):
            grown[..., k:k + total.shape[-1]] += total * level_p[..., k:k + 1]
        total = grown
    steps = np.diff(R.RATING_LEVELS)[0]
    need = (5.0 * R.N_RATERS - R.RATING_LEVELS[0] * R.N_RATERS) / steps
    high = total[..., np.arange(total.shape[-1]) > need + 1e-9].sum(-1)
    return (high * weights[None, :]).sum(-1)


@lru_cache(maxsize=4)
def aesthetic_threshold(taste_sd: float = R.TASTE_SD) -> float:
    """The observable quality at which P(high) is one half (bisection; P rises with quality)."""
    low, high = 1.0, 10.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if high_probability(middle, taste_sd)[0] < 0.5 else (low, middle)
    return (low + high) / 2


# ---- emotion ------------------------------------------------------------------------------------------------


def _uniform(value: float, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    if hi <= lo:
        return float(value == lo)
    return 1.0 / (hi - lo) if lo <= value <= hi else 0.0


def _attribute_likelihoods(factors: dict[str, Any]) -> np.ndarray:
    """``L[a, e]``: density of the realised recipe attribute ``a`` (hue, tone, shapes, texture) under emotion e."""
    rows = []
    for attribute in R.BORROWABLE:
        row = []
        for name in EMOTIONS:
            recipe = R.RECIPES[name]
            if attribute == "hue":
                distance = abs((factors["hue"] - recipe.hue + 180.0) % 360.0 - 180.0)
                row.append(1.0 / (2 * recipe.hue_spread) if distance <= recipe.hue_spread + 1e-9 else 0.0)
            elif attribute == "tone":
                row.append(_uniform(factors["saturation"], recipe.saturation)
                           * _uniform(factors["brightness"], recipe.brightness))
            elif attribute == "shapes":
                lo, hi = recipe.companions
                shape = 1.0 / len(recipe.shapes) if factors["shape"] in recipe.shapes else 0.0
                row.append(shape * (1.0 / (hi - lo + 1) if lo <= factors["companions"] <= hi else 0.0))
            else:
                lo, hi = recipe.clutter
                row.append(_uniform(factors["granularity"], recipe.granularity)
                           * (1.0 / (hi - lo + 1) if lo <= factors["clutter"] <= hi else 0.0))
        rows.append(row)
    return np.asarray(rows)


def _valence_likelihood(factors: dict[str, Any], positive: bool) -> float:
    """Likelihood of the valence-dependent factors (clash, composition, effects, grain) given the valence."""
    clash = R.CLASH_PROBABILITY[positive]
    p = clash if factors["harmony"] == "clashing" else 1.0 - clash
    p *= R.COMPOSITION_PROBABILITY[positive][R.COMPOSITIONS.index(factors["composition"])]
    noise = R.NOISE_PROBABILITY[positive]
    p *= noise if factors["noise"] > 0 else 1.0 - noise
    for name, chance in R.EFFECT_PROBABILITY.items():
        q = chance[positive] if isinstance(chance, dict) else chance
        if name == "light_on_white" and "silhouettes" in factors["effects"]:
            continue  # removed whenever a silhouette is drawn: uninformative
        p *= q if name in factors["effects"] else 1.0 - q
    return p


def emotion_posterior(factors: dict[str, Any]) -> np.ndarray:
    """P(emotion | observable factors) under SynthAE's generative model (recipe borrowing included)."""
    likelihood = _attribute_likelihoods(factors)  # (attributes, emotions)
    whole = likelihood.prod(axis=0)
    borrowed = np.zeros(len(EMOTIONS))
    for a in range(len(R.BORROWABLE)):
        others = np.delete(likelihood, a, axis=0).prod(axis=0)
        borrowed += likelihood[a].mean() * others / len(R.BORROWABLE)
    joint = (1 - R.BORROW_PROBABILITY) * whole + R.BORROW_PROBABILITY * borrowed
    joint = joint * np.array([_valence_likelihood(factors, is_positive(e)) for e in range(len(EMOTIONS))])
    return joint / joint.sum()


# ---- per set ------------------------------------------------------------------------------------------------


def oracle_predictions(data: SynthAE, task: str) -> np.ndarray:
    """The oracle's answer for every image of ``data`` (aesthetic 0/1, emotion 0..7, style 14 × 0/1)."""
    factors = [data.factors(i) for i in range(len(data))]
    if task == "aesthetic":
        threshold = aesthetic_threshold()
        return np.array([int(observable_quality(f) > threshold) for f in factors])
    if task == "emotion":
        return np.array([int(np.argmax(emotion_posterior(f))) for f in factors])
    if task == "style":
        return np.array([f["style"] for f in factors])
    raise ValueError(f"oracle_predictions: task must be one of {', '.join(CEILING_TASKS)}, got {task!r}")


def majority_accuracy(labels: np.ndarray) -> float | np.ndarray:
    """Accuracy of always answering the most frequent class (per column for multi-label tags)."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        rate = labels.mean(axis=0)
        return np.maximum(rate, 1 - rate)
    return float(np.bincount(labels.astype(int)).max() / len(labels))


def ceiling(data: SynthAE, tasks: tuple[str, ...] = ("aesthetic", "emotion")) -> dict[str, dict[str, Any]]:
    """Majority baseline and oracle accuracy per task on ``data`` (style: per tag, by tag name)."""
    result: dict[str, dict[str, Any]] = {}
    for task in tasks:
        labels = data.label_array(task)
        oracle = oracle_predictions(data, task)
        majority = majority_accuracy(labels)
        if task == "style":
            hits = (oracle == labels).mean(axis=0)
            result[task] = {"majority": dict(zip(STYLES, map(float, majority))),
                            "oracle": dict(zip(STYLES, map(float, hits)))}
        else:
            result[task] = {"majority": float(majority), "oracle": float((oracle == labels).mean())}
    return result


def gap_share(model: float, majority: float, oracle: float) -> float:
    """The model's share of the learnable gap, ``(model − majority) / (oracle − majority)``."""
    if oracle <= majority:
        return float("nan")
    return (model - majority) / (oracle - majority)


def term_sensitivity(data: SynthAE, scores: np.ndarray) -> dict[str, float]:
    """Which planted aesthetic terms a model's scores follow: least-squares weights of ``scores`` (e.g. the
    aesthetic logits on ``data``) on the observable quality terms, divided by their mean. The oracle's observable
    quality weighs every term equally (1.0 each); a term near 0 is one the model has not picked up."""
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if len(scores) != len(data):
        raise ValueError(f"term_sensitivity: {len(scores)} scores for {len(data)} images")
    terms = quality_terms(data)[0]
    design = np.column_stack([terms, np.ones(len(data))])
    weights = np.linalg.lstsq(design, scores, rcond=None)[0][:-1]
    spread = terms.std(axis=0) > 0
    scale = weights[spread].mean() if spread.any() and weights[spread].mean() != 0 else 1.0
    return {t: float(w / scale) if s else float("nan") for t, w, s in zip(OBSERVABLE_TERMS, weights, spread)}



def quality_terms(data: SynthAE) -> tuple[np.ndarray, np.ndarray]:
    """The observable quality terms of every image of ``data`` (``len(data)`` × :data:`OBSERVABLE_TERMS`) and its
    aesthetic labels, from one draw of the factors per image (no rendering)."""
    factors = [data.factors(i) for i in range(len(data))]
    terms = np.array([[f["quality_terms"][t] for t in OBSERVABLE_TERMS] for f in factors], dtype=float)
    return terms.reshape(len(data), len(OBSERVABLE_TERMS)), np.array([labels_from_factors(f)["aesthetic"] for f in factors])


def partial_oracle_accuracy(fit: SynthAE, test: SynthAE, subsets: Sequence[Sequence[str]]) -> dict[tuple[str, ...], float]:
    """Aesthetic accuracy on ``test`` of a reader that sees only some observable quality terms, for each subset of
    :data:`OBSERVABLE_TERMS` in ``subsets`` (an empty one: nothing but the base rate), fitted on ``fit``'s factors:
    what a model that has learned just those factors can reach. Quality is a sum of the terms, so a logistic
    regression on them is close to the Bayes-optimal reader of the subset (with all six terms it matches
    :func:`oracle_predictions` within sampling error); scikit-learn's fit is used rather than integrating over the
    unseen terms, whose distribution depends on the valence."""
    from sklearn.linear_model import LogisticRegression

    for subset in subsets:
        unknown = sorted(set(subset) - set(OBSERVABLE_TERMS))
        if unknown:
            raise ValueError(f"partial_oracle_accuracy: unknown term(s) {', '.join(unknown)}; "
                             f"expected some of {', '.join(OBSERVABLE_TERMS)}")
    (fit_terms, fit_labels), (test_terms, test_labels) = quality_terms(fit), quality_terms(test)
    result: dict[tuple[str, ...], float] = {}
    for subset in map(tuple, subsets):
        if not subset:  # the base rate alone: the class more frequent in the fitting set
            result[subset] = float((test_labels == int(fit_labels.mean() > 0.5)).mean())
            continue
        columns = [OBSERVABLE_TERMS.index(t) for t in subset]
        reader = LogisticRegression().fit(fit_terms[:, columns], fit_labels)
        result[subset] = float((reader.predict(test_terms[:, columns]) == test_labels).mean())
    return result
