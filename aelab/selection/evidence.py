"""What a person looks at before choosing auxiliary layers (paper 004 Fig. 4; docs/science.md §6).

For a trained run and its held-out labelled images, per candidate layer: the neuron-group picture (eqs. 4–5,
r = 1, drawn from the layer's cached atlas) of a few positive and a few negative images, and the separability
score of the two classes' groups with its shuffled-label control (:mod:`aelab.viz.separability`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from aelab.load import LoadedRun, load_run
from aelab.selection.choice import candidate_layers
from aelab.task_kinds import kind_of
from aelab.tasks import get_task
from aelab.viz.atlas import layer_atlas
from aelab.viz.groups import group_images, neuron_groups
from aelab.viz.render import RenderSettings
from aelab.viz.separability import LayerSeparability, separability

DEFAULT_SETTINGS = RenderSettings(steps=64, size=64)
"""Atlas settings shared with the explorer's default, so both read the same cached atlases."""


@dataclass
class LayerEvidence:
    """One layer: its separability and the group pictures ``(n_show, 3, h, w)`` of the shown images."""

    layer: str
    separability: LayerSeparability
    positive: torch.Tensor
    negative: torch.Tensor


@dataclass
class SelectionEvidence:
    """Everything the selection panel shows for one run: per-layer evidence, the shown input images (pixels in
    [0, 1]), the label that splits them and its class names ``(negative, positive)``."""

    run: Path
    label: str
    classes: tuple[str, str]
    layers: list[LayerEvidence]
    positive_pixels: torch.Tensor
    negative_pixels: torch.Tensor

    @property
    def scores(self) -> list[LayerSeparability]:
        return [item.separability for item in self.layers]

    @property
    def layer_names(self) -> list[str]:
        return [item.layer for item in self.layers]


def _label_key(config: dict, available: Sequence[str]) -> str:
    """The run's first task when it is binary (sentiment, aesthetic), else ``sentiment`` (valence)."""
    first = get_task(config["tasks"][0])
    if kind_of(first).exclusive and len(first.classes) == 2 and first.name in available:
        return first.name
    if "sentiment" in available:
        return "sentiment"
    raise ValueError(f"choosing auxiliary layers compares two classes; the run's first task {first.name!r} is not "
                     f"binary and its images carry no 'sentiment' label (labels: {sorted(available)})")


def gather_evidence(run: str | Path | LoadedRun, layers: Sequence[str] | None = None, *, n_images: int = 48,
                    n_show: int = 3, settings: RenderSettings | None = None, n_shuffles: int = 5, seed: int = 0,
                    progress: bool = False) -> SelectionEvidence:
    """Per layer (default: :func:`~aelab.selection.choice.candidate_layers`), separability of the positive vs
    negative held-out images' neuron groups and the group pictures of ``n_show`` images of each class. Images and
    atlases go through the run's own input normalisation (:func:`aelab.load_run`)."""
    loaded = load_run(run)
    folder, model, config = loaded.folder, loaded.model, loaded.config
    data = loaded.examples(n_images, seed=seed)
    label = _label_key(config, list(data.labels))
    positive, negative = data.where(label, 1), data.where(label, 0)
    if min(len(positive), len(negative)) < 2:
        raise ValueError(f"need at least 2 images of each {label} class among {n_images} held-out images; got "
                         f"{len(positive)} positive and {len(negative)} negative (raise n_images)")
    layers = list(layers) if layers is not None else candidate_layers(model.probe_layers())
    scores = separability(model, data.images[positive], data.images[negative], layers, n_shuffles=n_shuffles,
                          seed=seed)
    shown_pos, shown_neg = positive[:n_show], negative[:n_show]
    items = []
    for layer, score in zip(layers, scores):
        atlas = layer_atlas(model, layer, settings or DEFAULT_SETTINGS, cache_dir=folder / "atlas", progress=progress)

        def pictures(indices: torch.Tensor) -> torch.Tensor:
            return torch.cat([group_images(neuron_groups(model, data.images[i], layer, 1, seed=seed).channels, atlas)
                              for i in indices.tolist()])

        items.append(LayerEvidence(layer, score, pictures(shown_pos), pictures(shown_neg)))
    classes = get_task(label).classes
    return SelectionEvidence(folder, label, (classes[0], classes[1]), items, data.pixels[shown_pos],
                             data.pixels[shown_neg])
