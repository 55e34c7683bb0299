"""Image transforms of docs/science.md §2 (patent CN109978074A preprocessing), with the size as a parameter.

Train: resize to 256×256 (scaled with ``size``), random ``size`` crop, horizontal flip p = 0.5, normalise
(``crop=False``: resize to ``size`` and flip).
Eval: resize to ``size`` (or resize + centre crop). Normalisation is ImageNet mean/std by default (the modern
equivalent of the patent's mean-image subtraction); ``normalization="dataset"`` subtracts a training-set mean
image as the patent does, ``"none"`` leaves pixels in [0, 1].

:data:`MODEL_NORMALIZATIONS` gives the same three as the value a model carries (``model.normalization``) so that
code feeding it images in [0, 1] (probes, activation maximisation, overlays) normalises them as training did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

from aelab.data.normalization import (IDENTITY_NORMALIZATION, IMAGENET_NORMALIZATION, InputNormalization,
                                     MeanImageNormalization)
from aelab.data.sample import Sample
from aelab.errors import UnknownNameError

IMAGENET_MEAN = IMAGENET_NORMALIZATION.mean  # torchvision's ImageNet preset, see aelab.data.normalization
IMAGENET_STD = IMAGENET_NORMALIZATION.std
RESIZE_RATIO = 256 / 224  # the patent resizes to 256 before cropping 224


class SubtractMeanImage(torch.nn.Module):
    """Subtract a per-pixel mean image (C×H×W) computed on the training set (patent CN109978074A)."""

    def __init__(self, mean_image: torch.Tensor):
        super().__init__()
        self.mean_image = mean_image

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-2:] != self.mean_image.shape[-2:]:
            raise ValueError(
                f"mean image is {tuple(self.mean_image.shape[-2:])} but the image is {tuple(image.shape[-2:])}; "
                "compute it at the crop size"
            )
        return image - self.mean_image


MODEL_NORMALIZATIONS: dict[str, Callable[[torch.Tensor | None], InputNormalization]] = {
    "imagenet": lambda mean_image: IMAGENET_NORMALIZATION,
    "none": lambda mean_image: IDENTITY_NORMALIZATION,
    "dataset": lambda mean_image: MeanImageNormalization(_require_mean(mean_image)),
}
"""Normalisation name (a run's ``normalization``) → the value its model carries."""


def model_normalization(normalization: str, mean_image: torch.Tensor | None = None) -> InputNormalization:
    """The input normalisation of a model trained with ``normalization`` (``"dataset"``: needs ``mean_image``)."""
    if normalization not in MODEL_NORMALIZATIONS:
        raise UnknownNameError("normalization", normalization, list(MODEL_NORMALIZATIONS))
    return MODEL_NORMALIZATIONS[normalization](mean_image)


def mean_image_of(transform: Callable) -> torch.Tensor | None:
    """The mean image a transform (or a ``Compose`` of them) subtracts, or None."""
    if isinstance(transform, SubtractMeanImage):
        return transform.mean_image
    parts = getattr(transform, "transforms", [])
    return next((m for m in map(mean_image_of, parts) if m is not None), None)


def _normalizer(normalization: str, mean_image: torch.Tensor | None) -> torch.nn.Module:
    builders: dict[str, Callable[[], torch.nn.Module]] = {
        "imagenet": lambda: v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        "none": lambda: v2.Identity(),
        "dataset": lambda: SubtractMeanImage(_require_mean(mean_image)),
    }
    if normalization not in builders:
        raise UnknownNameError("normalization", normalization, list(builders))
    return builders[normalization]()


def _require_mean(mean_image: torch.Tensor | None) -> torch.Tensor:
    if mean_image is None:
        raise ValueError("normalization='dataset' needs mean_image=compute_mean_image(train_samples, size)")
    return mean_image


def _to_tensor() -> list[torch.nn.Module]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


def train_transform(
    size: int = 224,
    resize: int | None = None,
    flip: float = 0.5,
    normalization: str = "imagenet",
    mean_image: torch.Tensor | None = None,
    crop: bool = True,
) -> v2.Compose:
    """Training augmentation: resize to ``resize``² (default ``size``·256/224), random ``size`` crop, flip, normalise.
    ``crop=False``: resize to ``size``² and flip only (where a crop would change what the label says, such as
    where the subject sits)."""
    resize = (resize or round(size * RESIZE_RATIO)) if crop else size
    if resize < size:
        raise ValueError(f"resize ({resize}) must be at least the crop size ({size})")
    geometry = [v2.Resize((resize, resize), antialias=True), *([v2.RandomCrop(size)] if crop else [])]
    return v2.Compose([
        *geometry,
        v2.RandomHorizontalFlip(flip),
        *_to_tensor(),
        _normalizer(normalization, mean_image),
    ])


def eval_transform(
    size: int = 224,
    mode: str = "resize",
    normalization: str = "imagenet",
    mean_image: torch.Tensor | None = None,
) -> v2.Compose:
    """Test-time transform: ``mode="resize"`` to ``size``² (patent) or ``"center_crop"`` after resizing to 256/224·size."""
    geometry = {
        "resize": lambda: [v2.Resize((size, size), antialias=True)],
        "center_crop": lambda: [v2.Resize(round(size * RESIZE_RATIO), antialias=True), v2.CenterCrop(size)],
    }
    if mode not in geometry:
        raise UnknownNameError("eval transform mode", mode, list(geometry))
    return v2.Compose([*geometry[mode](), *_to_tensor(), _normalizer(normalization, mean_image)])


def compute_mean_image(samples: Sequence[Sample], size: int) -> torch.Tensor:
    """The training set's mean image at ``size``² in [0, 1] (for ``normalization="dataset"``)."""
    if not samples:
        raise ValueError("compute_mean_image needs at least one sample")
    to_tensor = v2.Compose([v2.Resize((size, size), antialias=True), *_to_tensor()])
    total = torch.zeros(3, size, size)
    for sample in samples:
        total += to_tensor(sample.load_image())
    return total / len(samples)
