"""Whether an activation-maximisation image can be read, as two numbers per image (Olah et al. 2017 discuss both
failure modes: high-frequency noise and saturation).

* :func:`roughness` — the mean absolute Laplacian of the grey image: 0 for a flat image, about 1 for uniform
  noise. The grey image is the ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B``; the Laplacian is the 4-neighbour
  stencil ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` on the interior pixels (no padding, so edges add nothing).
* :func:`clipped_share` — the share of pixels with any channel below 0.02 or above 0.98 (clipped to black or to a
  saturated colour).

Images are (N, 3, H, W) or (3, H, W) RGB in [0, 1]; each function returns one value per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aelab.errors import ConfigError

LUMA = (0.299, 0.587, 0.114)
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
CLIP_LOW, CLIP_HIGH = 0.02, 0.98


def _batch(images: torch.Tensor, minimum_side: int = 1) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1] != 3 or min(images.shape[-2:]) < minimum_side:
        raise ConfigError("images", tuple(images.shape),
                          f"RGB images shaped (N, 3, H, W) or (3, H, W) with H, W >= {minimum_side}")
    return images.detach().float()


def grey(images: torch.Tensor) -> torch.Tensor:
    """The luma (N, 1, H, W) of RGB images."""
    images = _batch(images)
    return torch.einsum("nchw,c->nhw", images, torch.tensor(LUMA, device=images.device))[:, None]


def roughness(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute Laplacian of each image's grey image (N,) — see the module docstring."""
    luma = grey(_batch(images, minimum_side=3))
    kernel = torch.tensor(LAPLACIAN, device=luma.device).view(1, 1, 3, 3)
    return F.conv2d(luma, kernel).abs().mean(dim=(1, 2, 3))


def clipped_share(images: torch.Tensor) -> torch.Tensor:
    """Share of each image's pixels (N,) with a channel below 0.02 or above 0.98."""
    images = _batch(images)
    clipped = ((images < CLIP_LOW) | (images > CLIP_HIGH)).any(dim=1)
    return clipped.float().mean(dim=(1, 2))
