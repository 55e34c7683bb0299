"""One loader of a trained run: its folder, config, model and the input normalisation it was trained with.

``load_run(run)`` reads ``config.yaml``, builds the model with the weights of the ``best`` checkpoint (else
``last``), puts it in eval mode on the device and gives it the run's own input normalisation
(``model.normalization``): none for ``normalization="none"``, ImageNet's mean / std for ``"imagenet"``, the saved
training-set mean image (``mean_image.pt``; patent CN109978074A) for ``"dataset"``. Probes, activation
maximisation, atlases and overlays read that attribute, so every view of the run sees inputs as training did.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.transforms import v2

from aelab.data.normalization import normalize_input
from aelab.data.transforms import (MODEL_NORMALIZATIONS, InputNormalization, MeanImageNormalization, eval_transform,
                                   model_normalization)
from aelab.errors import AelabError, ConfigError
from aelab.examples import Examples, examples
from aelab.models import build_model
from aelab.train.data import MEAN_IMAGE_FILE
from aelab.train.distributed import pick_device
from aelab.run_folder import load_checkpoint, read_config, run_checkpoint


def read_mean_image(folder: str | Path) -> torch.Tensor:
    """The training-set mean image ``(3, H, W)`` saved with a ``normalization="dataset"`` run (read safely)."""
    path = Path(folder) / MEAN_IMAGE_FILE
    if not path.exists():
        raise AelabError(f"{path} not found: the run was trained with normalization='dataset' and needs the "
                         "training set's mean image saved with it")
    state = load_checkpoint(path)
    image = state.get("mean_image") if isinstance(state, dict) else None
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3:
        raise AelabError(f"{path}: expected a 'mean_image' tensor of shape (3, H, W)")
    return image.float()


def run_normalization(folder: str | Path, config: dict[str, Any]) -> InputNormalization:
    """The input normalisation a run was trained with (its config's ``normalization``)."""
    name = config.get("normalization", "imagenet")
    if name not in MODEL_NORMALIZATIONS:
        raise ConfigError(f"{Path(folder) / 'config.yaml'}: normalization", name,
                          f"one of {', '.join(MODEL_NORMALIZATIONS)}")
    return model_normalization(name, read_mean_image(folder) if name == "dataset" else None)


@dataclass
class LoadedRun:
    """A trained run ready to use: ``model`` (eval mode, on its device, carrying ``normalization``), its
    ``config`` (the ``config`` section of ``config.yaml``) and the ``checkpoint`` file its weights came from."""

    folder: Path
    config: dict[str, Any]
    model: nn.Module
    checkpoint: Path
    normalization: InputNormalization

    @property
    def normalization_name(self) -> str:
        return self.config.get("normalization", "imagenet")

    @property
    def mean_image(self) -> torch.Tensor | None:
        """The training-set mean image of a ``normalization="dataset"`` run, else None."""
        return self.normalization.image if isinstance(self.normalization, MeanImageNormalization) else None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def eval_transform(self, mode: str = "resize") -> v2.Compose:
        """PIL image → the model's input: the run's test-time transform at its image size and normalisation."""
        return eval_transform(self.config["image_size"], mode=mode, normalization=self.normalization_name,
                              mean_image=self.mean_image)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB images (…, 3, H, W) in [0, 1] → the model's input (the run's normalisation)."""
        return normalize_input(images, self.normalization)

    def examples(self, n: int = 32, seed: int = 0) -> Examples:
        """Held-out example images (:func:`aelab.examples.examples`) normalised as the run was trained."""
        data = examples({**self.config, "normalization": "none"}, n, seed=seed)
        return replace(data, images=self.normalize(data.pixels))


def load_run(run: str | Path | LoadedRun, checkpoint: str = "best", device: str = "auto") -> LoadedRun:
    """A run folder loaded as :class:`LoadedRun` with the weights of ``checkpoint`` (``best``, else ``last``) on
    ``device`` (``auto``: CUDA when present). A :class:`LoadedRun` is returned as it is."""
    if isinstance(run, LoadedRun):
        return run
    folder = Path(run)
    config = read_config(folder)
    normalization = run_normalization(folder, config)
    path = run_checkpoint(folder, checkpoint)
    target = pick_device(device)
    model = build_model(config["arch"], config["backbone"], tasks=config["tasks"], weights=None,
                        **config.get("model_options", {}))
    model.load_state_dict(load_checkpoint(path, target)["model"])
    model.normalization = normalization
    return LoadedRun(folder, config, model.to(target).eval(), path, normalization)
