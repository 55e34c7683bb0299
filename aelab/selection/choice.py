"""Which layers get auxiliary classifiers: a person's choice or the automatic one (paper 004; docs/science.md §3, §6).

Paper 004 lets a person look at positive vs negative neuron-group pictures per Inception block and pick the
blocks whose groups differ most. :func:`choose_layers` records that choice — or, headless, makes it from the
separability scores of :mod:`aelab.viz.separability` (the same difference, measured) by taking the top ``k``
— together with who made it and the scores it was made from, so a run's results say how its layers came about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aelab.errors import ConfigError, UnknownNameError
from aelab.models.auxiliary import resolve_layer
from aelab.viz.separability import LayerSeparability

CHOOSERS = ("person", "auto")
DERIVED = ("short_layers",)
"""Keys :meth:`LayerChoice.to_dict` adds that are computed from the fields."""


def short_name(layer: str) -> str:
    """``"shared.4a"`` → ``"4a"``: the block name a person reads (the branch prefix dropped)."""
    return layer.partition(".")[2] or layer


def candidate_layers(probes: Sequence[str]) -> list[str]:
    """Layers that may carry an auxiliary head: every probe layer but the last (whose output the main head
    already reads)."""
    return list(probes[:-1]) if len(probes) > 1 else list(probes)


@dataclass
class LayerChoice:
    """The layers chosen for auxiliary heads (full probe names, forward order), ``chosen_by`` ``"person"`` or
    ``"auto"``, the separability scores shown or used (one dict per layer), ``k`` for automatic choices and
    the auxiliary weight."""

    layers: list[str]
    chosen_by: str
    scores: list[dict] = field(default_factory=list)
    k: int | None = None
    aux_weight: float = 0.1

    def __post_init__(self) -> None:
        if self.chosen_by not in CHOOSERS:
            raise UnknownNameError("chooser", self.chosen_by, CHOOSERS)

    @property
    def short_layers(self) -> list[str]:
        return [short_name(layer) for layer in self.layers]

    def to_dict(self) -> dict:
        return {**asdict(self), "short_layers": self.short_layers}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "layer choice") -> LayerChoice:
        """The choice as :meth:`to_dict` recorded it (results.json's ``"choice"``, the selection panel's
        results): the derived ``short_layers`` is dropped; a key that is neither a field nor derived, or a missing
        ``layers``/``chosen_by``, raises :class:`~aelab.errors.ConfigError` naming ``source``."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names) - set(DERIVED))
        if unknown:
            raise ConfigError(f"{source} key {unknown[0]!r}", data[unknown[0]],
                              f"only the keys {', '.join(names + list(DERIVED))}")
        if not {"layers", "chosen_by"} <= set(data):
            raise ConfigError(source, sorted(data), "a mapping with at least the keys layers and chosen_by")
        return cls(**{key: value for key, value in data.items() if key in names})


def top_layers(scores: Sequence[LayerSeparability], k: int) -> list[str]:
    """The ``k`` layers with the highest separability score (ties: the larger margin over the shuffled
    control, then forward order), returned in the order of ``scores``."""
    if not 1 <= k <= len(scores):
        raise ValueError(f"k must be between 1 and the number of scored layers ({len(scores)}), got {k}")
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i].score, -scores[i].margin, i))
    keep = set(ranked[:k])
    return [s.layer for i, s in enumerate(scores) if i in keep]


def choose_layers(aux_layers: str | Sequence[str], scores: Sequence[LayerSeparability], probes: Sequence[str], *,
                  k: int = 3, aux_weight: float = 0.1) -> LayerChoice:
    """``aux_layers="auto"``: the top ``k`` layers by separability; a list (``["4a", "4b", "4d"]``, full or short
    probe names): a person's explicit choice. ``probes``: the model's probe layers (to resolve and order names)."""
    recorded = [s.to_dict() for s in scores]
    if isinstance(aux_layers, str):
        if aux_layers != "auto":
            raise ConfigError("aux_layers", aux_layers, "'auto' or a list of layer names (headless, a list goes "
                                                        "through papermill's -y option: -y \"aux_layers: [4a, 4b]\")")
        if not scores:
            raise ValueError("aux_layers='auto' needs separability scores of the candidate layers")
        return LayerChoice(top_layers(scores, k), "auto", recorded, k, aux_weight)
    layers = sorted({resolve_layer(name, probes) for name in aux_layers}, key=list(probes).index)
    return LayerChoice(layers, "person", recorded, None, aux_weight)


def settle_choice(aux_layers: str | Sequence[str], scores: Sequence[LayerSeparability], candidates: Sequence[str],
                  *, panel_results: Mapping[str, Any] | None = None, k: int = 3,
                  aux_weight: float = 0.1) -> LayerChoice:
    """The choice a selection run goes on with (paper 004's step "choose"): the one a person made in the selection
    panel when ``panel_results`` (the panel's record, with its ``"choice"``) is given, else :func:`choose_layers`
    from ``aux_layers`` over ``candidates`` — the headless path."""
    if panel_results is None:
        return choose_layers(aux_layers, scores, candidates, k=k, aux_weight=aux_weight)
    if not isinstance(panel_results, Mapping) or not isinstance(panel_results.get("choice"), Mapping):
        raise ConfigError("panel_results", panel_results, "the selection panel's results, holding a 'choice' mapping")
    return LayerChoice.from_dict(panel_results["choice"], "the panel's choice")
