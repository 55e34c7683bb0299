"""ImageNet's mean / std has one home, read from torchvision's weights metadata, and every user takes it there."""

from pathlib import Path

import torch
from torchvision.models import ResNet50_Weights, VGG16_Weights
from torchvision.transforms import v2

import aelab
from aelab.data.normalization import IMAGENET_NORMALIZATION, MeanImageNormalization, denormalize_input, normalize_input
from aelab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transform
from aelab.models.backbones import build_backbone
from aelab.viz.probe import input_normalization


def test_imagenet_statistics_come_from_torchvision_and_are_written_nowhere_in_aelab():
    for weights in (ResNet50_Weights.IMAGENET1K_V2, VGG16_Weights.IMAGENET1K_V1):
        preset = weights.transforms()
        assert (IMAGENET_NORMALIZATION.mean, IMAGENET_NORMALIZATION.std) == (tuple(preset.mean), tuple(preset.std))
    assert (IMAGENET_MEAN, IMAGENET_STD) == (IMAGENET_NORMALIZATION.mean, IMAGENET_NORMALIZATION.std)
    written = [str(path) for path in Path(aelab.__file__).parent.rglob("*.py") if "0.485" in path.read_text()]
    assert written == []


def test_the_transforms_the_backbones_and_the_probes_share_it():
    normalize = next(t for t in eval_transform(8).transforms if isinstance(t, v2.Normalize))
    assert (tuple(normalize.mean), tuple(normalize.std)) == (IMAGENET_NORMALIZATION.mean, IMAGENET_NORMALIZATION.std)
    net = build_backbone("tiny")
    assert net.normalization is IMAGENET_NORMALIZATION
    assert input_normalization(net) == (IMAGENET_NORMALIZATION.mean, IMAGENET_NORMALIZATION.std)


def test_normalising_and_undoing_it_round_trip():
    images = torch.rand(2, 3, 6, 6)
    for norm in (IMAGENET_NORMALIZATION, MeanImageNormalization(torch.rand(3, 4, 4))):
        inputs = normalize_input(images, norm)
        assert not torch.allclose(inputs, images)
        assert torch.allclose(denormalize_input(inputs, norm), images, atol=1e-6)
