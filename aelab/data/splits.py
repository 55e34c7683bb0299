"""Seeded train/val/test splits (docs/science.md §2: random 70/10/20) and stratified k-fold (paper 004: 5-fold CV)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)


def _if_stratifiable(labels: np.ndarray | None, part: int) -> np.ndarray | None:
    """``labels`` when a part of ``part`` items can keep their class proportions (every class twice or more, and
    room for each class on both sides), else None: a small set is split at random rather than refused."""
    if labels is None:
        return None
    classes, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 and len(classes) <= part <= len(labels) - len(classes) else None


def split_indices(
    n: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    stratify: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Split ``range(n)`` into ``train``/``val``/``test`` index arrays with the given fractions.

    The same ``seed`` always gives the same split. With ``stratify`` (one class label per item) each
    part keeps the class proportions (scikit-learn's ``train_test_split``) where it can: a part too small to hold
    every class, or a class of one item, makes that cut a plain random one.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    if n < 3:
        raise ValueError(f"need at least 3 items to split into train/val/test, got {n}")
    if stratify is not None and len(stratify) != n:
        raise ValueError(f"stratify has {len(stratify)} labels for {n} items")
    indices = np.arange(n)
    labels = None if stratify is None else np.asarray(stratify)
    n_test = max(1, int(round(fractions[2] * n)))
    n_val = max(1, int(round(fractions[1] * n))) if fractions[1] > 0 else 0
    rest, test = train_test_split(indices, test_size=n_test, random_state=seed,
                                  stratify=_if_stratifiable(labels, n_test))
    if n_val == 0:
        return {"train": np.sort(rest), "val": np.array([], dtype=int), "test": np.sort(test)}
    rest_labels = None if labels is None else labels[rest]
    train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1,
                                  stratify=_if_stratifiable(rest_labels, n_val))
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def kfold_indices(labels: Sequence[int], k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``k``-fold cross-validation: a list of ``(train_indices, test_indices)`` pairs."""
    labels = np.asarray(labels)
    counts = np.bincount(labels.astype(int)) if labels.size else np.array([])
    smallest = counts[counts > 0].min() if counts.size else 0
    if k < 2 or smallest < k:
        raise ValueError(
            f"stratified {k}-fold needs k >= 2 and at least k items of every class; smallest class has {smallest}"
        )
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train, test) for train, test in folds.split(np.zeros(len(labels)), labels)]
