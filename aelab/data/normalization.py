"""Input normalisation of RGB images in [0, 1]: what a model expects, and applying it or undoing it.

:data:`IMAGENET_NORMALIZATION` is read from torchvision's weights metadata (the per-channel mean / std that the
ImageNet-trained ResNet50, VGG16, GoogLeNet and Wide-ResNet weights were trained with), not retyped here.
:class:`MeanImageNormalization` is patent CN109978074A's preprocessing: subtract the training set's mean image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.models import ResNet50_Weights


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std the weights expect of RGB images scaled to [0, 1]."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _imagenet() -> Normalization:
    preset = ResNet50_Weights.IMAGENET1K_V2.transforms()  # builds the preset only: nothing is downloaded
    return Normalization(mean=tuple(map(float, preset.mean)), std=tuple(map(float, preset.std)))


IMAGENET_NORMALIZATION = _imagenet()
"""ImageNet's per-channel mean / std (torchvision's ``IMAGENET1K`` presets)."""

IDENTITY_NORMALIZATION = Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


@dataclass(frozen=True, eq=False)
class MeanImageNormalization:
    """A model input normalisation that subtracts a per-pixel mean image ``(3, H, W)`` in [0, 1] (std 1): the
    patent CN109978074A preprocessing with the training set's mean image."""

    image: torch.Tensor

    def __post_init__(self) -> None:
        if self.image.dim() != 3 or self.image.shape[0] != 3:
            raise ValueError(f"a mean image is (3, H, W); got shape {tuple(self.image.shape)}")


InputNormalization = Normalization | MeanImageNormalization
"""What a model expects of RGB images in [0, 1]: per-channel mean/std, or a mean image to subtract."""


def _mean_std(norm: InputNormalization, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std broadcastable to ``like`` (…, 3, H, W), on its device and dtype."""
    if isinstance(norm, MeanImageNormalization):
        mean = norm.image.to(like.device, like.dtype)[None]
        if mean.shape[-2:] != like.shape[-2:]:
            mean = F.interpolate(mean, size=tuple(like.shape[-2:]), mode="bilinear", align_corners=False,
                                 antialias=True)
        return mean[0], torch.ones(3, 1, 1, device=like.device, dtype=like.dtype)
    mean, std = (torch.tensor(v, device=like.device, dtype=like.dtype).view(3, 1, 1) for v in (norm.mean, norm.std))
    return mean, std


def normalize_input(images: torch.Tensor, norm: InputNormalization) -> torch.Tensor:
    """RGB images (…, 3, H, W) in [0, 1] → a model's input under ``norm`` (a mean image is resized to H×W)."""
    mean, std = _mean_std(norm, images)
    return (images - mean) / std


def denormalize_input(inputs: torch.Tensor, norm: InputNormalization) -> torch.Tensor:
    """The inverse of :func:`normalize_input` (not clamped)."""
    mean, std = _mean_std(norm, inputs)
    return inputs * std + mean
