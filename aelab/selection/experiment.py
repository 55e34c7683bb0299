"""The training configuration of paper 004's experiment from a notebook's parameters (docs/science.md §2.1 Twitter)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aelab.selection.choice import candidate_layers
from aelab.train.config import TrainConfig

if TYPE_CHECKING:
    from aelab.selection.evidence import SelectionEvidence

PAPER_AUX_LAYERS = ("4a", "4b", "4d")
"""The GoogLeNet blocks paper 004's person chose."""


def sentiment_config(output: str | Path, *, data: str = "synthae", root: str | None = None, agree: str = "five",
                     backbone: str = "tiny", weights: str | None = None, n_images: int = 600, image_size: int = 48,
                     epochs: int = 4, batch_size: int = 32, lr: float = 0.02, seed: int = 0,
                     progress: bool = False, **options) -> TrainConfig:
    """Binary sentiment with architecture ``aux`` (no auxiliary heads yet: those come with the choice).
    ``data``: ``"synthae"`` (valence of the planted emotion) or ``"twitter"`` with ``root`` and ``agree`` (five,
    four or three annotators agreeing). ``options``: further :class:`TrainConfig` fields."""
    if data != "synthae" and root is None:
        raise ValueError(f"data={data!r} needs root= the folder of the data set (or data='synthae')")
    data_options = {"agree": agree} if data == "twitter" else {}
    return TrainConfig(data=data, root=root, data_options=data_options, tasks=["sentiment"], arch="aux",
                       backbone=backbone, weights=weights, model_options={"aux_layers": []}, n_images=n_images,
                       image_size=image_size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                       output=str(output), progress=progress, grad_ratio_every=0, **options)


def probe_layers(config: TrainConfig) -> list[str]:
    """The probe layers of the network ``config`` trains (built once, untrained), e.g. to resolve layer names
    without a trained run."""
    from aelab.models import build_model

    return build_model(config.arch, config.backbone, config.tasks, **config.model_options).probe_layers()


def layer_candidates(evidence: SelectionEvidence | None, config: TrainConfig) -> list[str]:
    """The layers that may carry an auxiliary head: those the evidence was gathered on, else (no look inside the
    network) every probe layer of the network ``config`` trains but the last (:func:`candidate_layers`)."""
    return list(evidence.layer_names) if evidence is not None else candidate_layers(probe_layers(config))
