"""How the binary ``aesthetic`` head learns from the raters' mean score (the label ``aesthetic_score``).

The ``aesthetic`` label is the mean score thresholded at 5 (:func:`aelab.tasks.high_aesthetic`). Where the data
carries the score itself (AVA's vote-weighted mean, UAE's raters' mean, SynthAE), training can use it instead of
the 0/1 label. Each way below has a temperature ``T`` in score points (``TrainConfig.soft_aesthetic``) that links the
head's logit ``z`` to the score, and each keeps ``z > 0`` meaning "high", so metrics, predictions and every
visualisation read the head as before.

- ``soft``: binary cross-entropy against ``σ((s − 5) / T)`` (:func:`aelab.tasks.soft_aesthetic`): the head is not
  asked to be certain where the raters were not. Far from the threshold the target is 0 or 1 and the gradient
  vanishes.
- ``score``: the head regresses the score. ``z`` stands for the score ``5 + T·z`` and is trained by the squared
  error ``½ (5 + T·z − s)²`` in score points (aesthetic score regression, e.g. Kong et al. 2016 on AVA's mean
  scores), so ``σ(z) = σ((ŝ − 5) / T)`` is the same reading as ``soft``'s. Every image keeps a gradient: an image
  rated 6.5 and one rated 8 both have the soft target ~1, but different regression targets, so a factor that moves
  the score anywhere on the scale (SynthAE's composition, harmony, sharpness, grain) keeps teaching the network,
  not only near the threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from aelab.errors import UnknownNameError
from aelab.task_kinds import Binary
from aelab.tasks import HIGH_AESTHETIC_THRESHOLD, soft_aesthetic


class ScoreRegression(Binary):
    """The binary aesthetic kind trained as a regression of the mean score: ``z`` stands for ``5 + T·z``."""

    def __init__(self, temperature: float):
        if temperature <= 0:
            raise ValueError(f"ScoreRegression: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def value_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """``½ (5 + T·z − s)²`` per sample: ``logits`` ``z``, ``target`` the raters' mean score ``s``."""
        return 0.5 * (HIGH_AESTHETIC_THRESHOLD + self.temperature * logits - target) ** 2


@dataclass(frozen=True)
class AestheticTarget:
    """One way of training the aesthetic head on the mean score."""

    name: str
    loss_target: Callable[[float, float], float]
    """``(mean score, T)`` → the value the dataset hands the loss (``"loss_targets"`` of an item)."""
    loss_kind: Callable[[float], Binary] | None
    """``T`` → the task kind whose loss trains the head on that value; ``None``: the binary kind's own (BCE)."""


def _the_score(score: float, temperature: float) -> float:
    return float(score)


AESTHETIC_TARGETS: dict[str, AestheticTarget] = {
    "soft": AestheticTarget("soft", soft_aesthetic, None),
    "score": AestheticTarget("score", _the_score, ScoreRegression),
}
"""Registry of the ways to learn from the raters' mean score (``TrainConfig.aesthetic_target``)."""


def get_aesthetic_target(name: str) -> AestheticTarget:
    """The registered :class:`AestheticTarget` called ``name``."""
    try:
        return AESTHETIC_TARGETS[name]
    except KeyError:
        raise UnknownNameError("aesthetic target", name, list(AESTHETIC_TARGETS)) from None


def aesthetic_loss_kinds(name: str, temperature: float | None) -> dict[str, Binary]:
    """``{"aesthetic": kind}`` when training on the score needs a loss other than the binary kind's, else ``{}``
    (the argument :func:`aelab.train.losses.model_task_losses` takes as ``loss_kinds``)."""
    make = get_aesthetic_target(name).loss_kind
    return {} if temperature is None or make is None else {"aesthetic": make(temperature)}
