"""Readability of rendered images: roughness (mean absolute Laplacian of the grey image) and clipped share."""

from __future__ import annotations

import pytest
import torch

from aelab.errors import ConfigError
from aelab.viz.readability import clipped_share, grey, roughness


def test_a_flat_image_is_smooth_and_unclipped():
    flat = torch.full((2, 3, 16, 16), 0.4)
    assert roughness(flat).tolist() == [0.0, 0.0]
    assert clipped_share(flat).tolist() == [0.0, 0.0]


def test_a_linear_ramp_has_no_laplacian_but_noise_is_rough():
    ramp = torch.linspace(0.1, 0.9, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    assert roughness(ramp).item() == pytest.approx(0.0, abs=1e-6)
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    blurred = torch.nn.functional.avg_pool2d(noise, 3, stride=1, padding=1)
    rough, smoothed = roughness(noise).item(), roughness(blurred).item()
    assert rough > 0.3 and smoothed < rough / 3
    # a checkerboard alternating 0 and 1 in every channel: |Laplacian| = 4 at every interior pixel
    board = ((torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2).float().expand(3, 8, 8)
    assert roughness(board).item() == pytest.approx(4.0)


def test_grey_is_the_luma():
    image = torch.zeros(3, 2, 2)
    image[1] = 1.0  # pure green
    assert grey(image).flatten().tolist() == pytest.approx([0.587] * 4)


def test_clipped_share_counts_pixels_with_any_saturated_channel():
    image = torch.full((1, 3, 10, 10), 0.5)
    image[0, 0, :2] = 1.0  # 20 pixels with red saturated
    image[0, 2, 9, :5] = 0.0  # 5 pixels with no blue
    image[0, 1, 5, 5] = 0.97  # inside the range: not clipped
    assert clipped_share(image).item() == pytest.approx(0.25)
    assert clipped_share(torch.ones(2, 3, 4, 4)).tolist() == [1.0, 1.0]


def test_bad_shapes_name_what_was_expected():
    with pytest.raises(ConfigError, match=r"images: got \(2, 1, 8, 8\), expected RGB images"):
        roughness(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ConfigError, match="H, W >= 3"):
        roughness(torch.zeros(1, 3, 2, 8))
