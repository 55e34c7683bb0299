"""Colour measures of RGB images in [0, 1] that SynthAE's recipes are written in (hue family, saturation,
brightness; :mod:`aelab.data.synthetic.recipes`), for the class-visualisation check.

* :func:`hsv` — hue (degrees), saturation and value per pixel (the HSV cone, Smith 1978, as ``colorsys``).
* :func:`dominant_hue` — the saturation-weighted dominant hue: a histogram of pixel hues with each pixel weighted by
  its saturation (grey pixels carry no hue), circularly smoothed with a [1, 2, 1] kernel; the dominant hue is the
  saturation-weighted circular mean of the hues within one bin of the highest bin.
* :func:`hue_distance` — the angle between two hues on the colour circle (0–180°).
* :func:`brightness` — the upper quartile of the pixels' HSV value. A recipe's brightness is that of the lighter
  end of the background gradient, whose other end is 0.7 times as bright, so the image mean falls below the range
  even for the data itself; on held-out SynthAE images drawn from one recipe the upper quartile lands in that
  recipe's range for 78–100 % of the images of each emotion (the mean for 47–100 %).
"""

from __future__ import annotations

import math

import torch

from aelab.viz.readability import _batch

HUE_BINS = 36  # 10° per bin


def hsv(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(hue in degrees [0, 360), saturation, value)``, each ``(N, H, W)``, of RGB images ``(N, 3, H, W)``."""
    images = _batch(images).clamp(0, 1)
    red, green, blue = images[:, 0], images[:, 1], images[:, 2]
    value, top = images.max(dim=1)
    low = images.min(dim=1).values
    span = value - low
    saturation = torch.where(value > 0, span / value.clamp(min=1e-12), torch.zeros_like(value))
    safe = span.clamp(min=1e-12)
    hue = torch.stack([(green - blue) / safe % 6, (blue - red) / safe + 2, (red - green) / safe + 4])
    hue = hue.gather(0, top[None])[0] * 60.0
    hue = torch.where(span > 0, hue, torch.zeros_like(hue)) % 360
    return hue, saturation, value


def hue_distance(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """Angle (degrees, 0–180) between hues ``a`` and ``b`` on the colour circle."""
    gap = (torch.as_tensor(a, dtype=torch.float32) - torch.as_tensor(b, dtype=torch.float32)) % 360
    return torch.minimum(gap, 360 - gap)


def dominant_hue(images: torch.Tensor, bins: int = HUE_BINS) -> torch.Tensor:
    """The saturation-weighted dominant hue (degrees) of each image ``(N,)`` (see the module docstring)."""
    hue, saturation, _ = hsv(images)
    width = 360.0 / bins
    index = (hue / width).long().clamp(max=bins - 1).flatten(1)
    weights = saturation.flatten(1)
    histogram = torch.zeros(len(hue), bins).scatter_add_(1, index, weights)
    smooth = 2 * histogram + histogram.roll(1, dims=1) + histogram.roll(-1, dims=1)
    peak = smooth.argmax(dim=1)
    centre = (peak.float() + 0.5) * width
    near = hue_distance(hue.flatten(1), centre[:, None]) <= 1.5 * width
    angle = torch.deg2rad(hue.flatten(1))
    weight = weights * near
    x, y = (weight * angle.cos()).sum(1), (weight * angle.sin()).sum(1)
    mean = torch.rad2deg(torch.atan2(y, x)) % 360
    return torch.where(weight.sum(1) > 0, mean, torch.full_like(mean, math.nan))


def mean_saturation(images: torch.Tensor) -> torch.Tensor:
    """Mean HSV saturation of each image ``(N,)``."""
    return hsv(images)[1].mean(dim=(1, 2))


BRIGHTNESS_QUANTILE = 0.75


def brightness(images: torch.Tensor) -> torch.Tensor:
    """Upper quartile of the HSV value of each image ``(N,)`` (the recipes' "brightness", see the module
    docstring)."""
    return torch.quantile(hsv(images)[2].flatten(1), BRIGHTNESS_QUANTILE, dim=1)
