"""Separability of two classes' neuron groups per layer: paper 004's Fig. 4 comparison made a number
(docs/science.md §6).

Paper 004 factorises each image's activations with r = 1 (eq. 4), renders the group (eq. 5) and eyeballs whether
positive and negative images give different groups: the more different, the more the layer "carries" the
sentiment. Here that difference is measured:

1. **Represent** each image by its neuron groups at the layer (``representation``):

   - ``"image"`` (default, the paper's r = 1): the image's own rank-1 NMF direction ``v`` (C,), scaled to unit
     norm (NMF's scale is arbitrary) — *which channels* form the image's group;
   - ``"shared"``: one NMF with ``n_groups`` groups fitted on the pooled positions of all images of both classes
     (no labels used), each image described by the share of its total loading that goes to each group
     (``mean_positions U`` normalised to sum 1) — *how much of each common group* the image shows.

2. **Score** how well the two classes can be told apart from that representation: the balanced accuracy of a
   standardised L2 logistic regression, stratified ``folds``-fold cross-validated (0.5 = indistinguishable,
   1 = perfectly separable; held-out images only, so a flexible classifier cannot score by memorising).

3. **Control**: the same score with the class labels randomly permuted, ``n_shuffles`` times (mean ± std): what
   the score reaches by chance with this many images and features. A layer separates the classes when its score
   is clearly above its control (say, by more than 2–3 control standard deviations).

:func:`separability` runs this per layer for a model and two image sets (e.g. positive vs negative sentiment,
high vs low aesthetics); :func:`aelab.viz.overlays.separability_chart` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from aelab.errors import UnknownNameError
from aelab.viz.groups import factorize
from aelab.viz.probe import layer_activations

REPRESENTATIONS = ("image", "shared")


@dataclass
class LayerSeparability:
    """Separability of two classes at one layer: ``score`` (cross-validated balanced accuracy) and its
    shuffled-label control (``control_mean`` ± ``control_std`` over ``control_scores``)."""

    layer: str
    score: float
    control_mean: float
    control_std: float
    control_scores: list[float] = field(default_factory=list)
    n_a: int = 0
    n_b: int = 0
    representation: str = "image"
    n_groups: int = 1

    @property
    def margin(self) -> float:
        """``score - control_mean``."""
        return self.score - self.control_mean

    @property
    def z(self) -> float:
        """Margin in control standard deviations (inf when the control does not vary)."""
        return self.margin / self.control_std if self.control_std > 0 else float("inf") * np.sign(self.margin)

    def to_dict(self) -> dict:
        return {**asdict(self), "margin": self.margin, "z": self.z}


def group_features(activations: torch.Tensor | np.ndarray, representation: str = "image", n_groups: int = 4,
                   seed: int = 0) -> np.ndarray:
    """``(N, F)`` neuron-group features of ``N`` images' activations ``(N, C, m, n)`` (see the module docstring)."""
    if representation not in REPRESENTATIONS:
        raise UnknownNameError("separability representation", representation, REPRESENTATIONS)
    acts = torch.as_tensor(activations).detach().float().cpu()
    if acts.dim() != 4:
        raise ValueError(f"activations must be (N, C, m, n), got {tuple(acts.shape)}")
    if representation == "image":
        return np.stack([factorize(a, 1, seed=seed).channels[0].numpy() for a in acts])
    groups = factorize(acts, n_groups, seed=seed)
    loading = groups.spatial.mean(dim=(-2, -1)).numpy()  # (N, r)
    total = loading.sum(axis=1, keepdims=True)
    return np.divide(loading, total, out=np.full_like(loading, 1.0 / loading.shape[1]), where=total > 0)


def separation_score(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Stratified ``folds``-fold cross-validated balanced accuracy of a standardised logistic regression."""
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=2)
    folds = int(min(folds, counts.min()))
    if folds < 2:
        raise ValueError(f"each class needs at least 2 images for cross-validation, got {counts.tolist()}")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, solver="liblinear", max_iter=1000))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(classifier, features, labels, cv=splits, scoring="balanced_accuracy").mean())


def separability_from_activations(
    activations_a: torch.Tensor | np.ndarray,
    activations_b: torch.Tensor | np.ndarray,
    *,
    representation: str = "image",
    n_groups: int = 4,
    n_shuffles: int = 5,
    folds: int = 5,
    seed: int = 0,
    layer: str = "",
) -> LayerSeparability:
    """Score and shuffled-label control for two classes' activations ``(N_a, C, m, n)`` and ``(N_b, C, m, n)``."""
    acts_a, acts_b = torch.as_tensor(activations_a), torch.as_tensor(activations_b)
    if acts_a.dim() != 4 or acts_b.dim() != 4 or acts_a.shape[1:] != acts_b.shape[1:]:
        raise ValueError(f"both classes need activations (N, C, m, n) of one layer; "
                         f"got {tuple(acts_a.shape)} and {tuple(acts_b.shape)}")
    if n_shuffles < 2:
        raise ValueError(f"n_shuffles must be at least 2 (a control needs a spread), got {n_shuffles}")
    features = group_features(torch.cat([acts_a, acts_b]), representation, n_groups, seed)
    labels = np.r_[np.zeros(len(acts_a), int), np.ones(len(acts_b), int)]
    score = separation_score(features, labels, folds, seed)
    rng = np.random.default_rng(seed)
    control = [separation_score(features, rng.permutation(labels), folds, seed) for _ in range(n_shuffles)]
    return LayerSeparability(layer, score, float(np.mean(control)), float(np.std(control, ddof=1)), control,
                             len(acts_a), len(acts_b), representation, 1 if representation == "image" else n_groups)


def _activations(model: nn.Module, images: torch.Tensor, layer: str, normalize: bool, batch_size: int) -> torch.Tensor:
    parts = [layer_activations(model, images[i:i + batch_size], layer, normalize=normalize).cpu()
             for i in range(0, len(images), batch_size)]
    return torch.cat(parts)


def separability(
    model: nn.Module,
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    representation: str = "image",
    n_groups: int = 4,
    n_shuffles: int = 5,
    folds: int = 5,
    seed: int = 0,
    normalize: bool = False,
    batch_size: int = 64,
) -> list[LayerSeparability]:
    """Per layer (default: all ``model.probe_layers()``), how separable the neuron groups of image sets ``a`` and
    ``b`` are, with a shuffled-label control (module docstring). ``images_*``: ``(N, 3, H, W)`` model input
    (``normalize=True``: RGB in [0, 1]). The model is run in eval mode."""
    if images_a.dim() != 4 or images_b.dim() != 4:
        raise ValueError(f"images must be batches (N, 3, H, W); got {tuple(images_a.shape)} and "
                         f"{tuple(images_b.shape)}")
    layers = list(layers) if layers is not None else list(model.probe_layers())
    was_training = model.training
    model.eval()
    results = []
    try:
        for layer in layers:
            acts_a = _activations(model, images_a, layer, normalize, batch_size)
            acts_b = _activations(model, images_b, layer, normalize, batch_size)
            results.append(separability_from_activations(
                acts_a, acts_b, representation=representation, n_groups=n_groups, n_shuffles=n_shuffles,
                folds=folds, seed=seed, layer=layer))
    finally:
        model.train(was_training)
    return results
