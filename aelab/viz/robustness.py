"""Transformation robustness (docs/science.md §6): Lucid's standard transforms, vectorised over a batch.

Lucid's ``standard_transforms`` are, in order: pad 12 with the value 0.5, jitter 8 (a random crop 8 px smaller),
random scale from ``1 + (i - 5) / 50`` for i = 0..10 (0.90…1.10 in steps of 0.02), random rotation by an angle
drawn from −10…10° plus five extra zeros (Lucid's list), jitter 4. Here the whole chain is one affine map per image,
applied with a single ``F.affine_grid``-style sampling grid and ``F.grid_sample`` (bilinear), so a batch of
images gets **one independent random draw per image** in one vectorised call:

* every draw of image ``i`` comes from its own generator seeded by ``(seed, i)`` (:func:`image_generator`), all
  steps drawn up front; an image is transformed identically whether rendered alone or in a batch;
* the output has a fixed size ``size + 2·pad − Σ jitter`` (140 px for 128 px images): scaling zooms the content
  about the centre at that size instead of resizing the canvas (Lucid's output size varies with the scale), so
  every image of a batch keeps one shape;
* everything outside the source image (padding, corners uncovered by rotation) is 0.5 grey (Lucid fills rotated
  corners with 0);
* at a reduced resolution (coarse-to-fine) the pixel amounts (pad, jitter offsets) shrink in proportion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aelab.viz.parameterization import image_generator

LUCID_SCALES = tuple(1 + (i - 5) / 50 for i in range(11))
LUCID_ANGLES = tuple(range(-10, 11)) + 5 * (0,)


@dataclass(frozen=True)
class TransformSpec:
    """Lucid's standard transforms (the defaults) as numbers."""

    pad: int = 12
    pad_value: float = 0.5
    jitter: tuple[int, int] = (8, 4)  # before and after scale + rotation
    scales: tuple[float, ...] = LUCID_SCALES
    angles: tuple[float, ...] = LUCID_ANGLES  # degrees

    def output_size(self, size: int, ratio: float = 1.0) -> int:
        """Side of the transformed image of a ``size`` px image at resolution ``ratio`` of the full one."""
        return max(1, round(size + ratio * (2 * self.pad - sum(self.jitter))))


class RandomTransforms:
    """Per-image random draws of the transform chain for ``steps`` steps, and their application to a batch.

    ``indices``: each image's index in the objective (its generator is seeded by ``(seed, index)``).
    ``draws`` is a tensor (N, steps, 6): first jitter (x, y), scale, angle (degrees), second jitter (x, y).
    """

    def __init__(self, indices: Sequence[int], steps: int, seed: int = 0, spec: TransformSpec = TransformSpec()):
        self.spec, self.steps = spec, steps
        rows = []
        scales = torch.tensor(spec.scales, dtype=torch.float64)
        angles = torch.tensor(spec.angles, dtype=torch.float64)
        for index in indices:
            g = image_generator(seed, int(index), 1)
            first = torch.randint(0, spec.jitter[0] + 1, (steps, 2), generator=g).double()
            scale = scales[torch.randint(0, len(scales), (steps,), generator=g)]
            angle = angles[torch.randint(0, len(angles), (steps,), generator=g)]
            second = torch.randint(0, spec.jitter[1] + 1, (steps, 2), generator=g).double()
            rows.append(torch.cat([first, scale[:, None], angle[:, None], second], dim=1))
        self.draws = torch.stack(rows) if rows else torch.zeros(0, steps, 6, dtype=torch.float64)

    def __call__(self, images: torch.Tensor, step: int | torch.Tensor, rows: torch.Tensor | None = None,
                 ratio: float | None = None) -> torch.Tensor:
        """Transform ``images`` (B, 3, h, w) with the draws of ``step`` (an int, or one step per image) of the images
        ``rows`` (default: all, in order). ``ratio``: the images' resolution relative to the full one (default
        inferred as 1)."""
        draws = self.draws if rows is None else self.draws[rows.cpu()]
        steps = torch.as_tensor(step).reshape(-1).expand(len(draws)).cpu()
        draws = draws[torch.arange(len(draws)), steps]
        return apply_transforms(images, draws, self.spec, 1.0 if ratio is None else ratio)


def apply_transforms(images: torch.Tensor, draws: torch.Tensor, spec: TransformSpec = TransformSpec(),
                     ratio: float = 1.0) -> torch.Tensor:
    """Lucid's chain for each image with its own draw (B, 6) — see the module docstring — in one grid sample."""
    batch, _, height, width = images.shape
    out_h = spec.output_size(height, ratio)
    out_w = spec.output_size(width, ratio)
    d = draws.to(torch.float64)
    first, scale, angle, second = d[:, 0:2] * ratio, d[:, 2], d[:, 3] * math.pi / 180, d[:, 4:6] * ratio
    pad = spec.pad * ratio
    # Coordinates (x, y) in pixels of the first crop (size (h + 2 pad - jitter0)), centre c. An output pixel o maps to
    # w = o + second; rotated back about c; zoomed back about c; shifted by the first crop and the padding.
    crop_w = width + 2 * pad - spec.jitter[0] * ratio
    crop_h = height + 2 * pad - spec.jitter[0] * ratio
    centre = torch.tensor([(crop_w - 1) / 2, (crop_h - 1) / 2], dtype=torch.float64)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # rotation by -angle
    matrix = rot / scale[:, None, None]  # (B, 2, 2): source offset from the centre per output offset
    # source(o) = matrix @ (o + second - c) + c + first - pad   (pixel coordinates of the unpadded image)
    offset = torch.einsum("bij,bj->bi", matrix, second - centre) + centre + first - pad
    ys, xs = torch.meshgrid(torch.arange(out_h, dtype=torch.float64), torch.arange(out_w, dtype=torch.float64),
                            indexing="ij")
    base = torch.stack([xs, ys], -1)  # (H, W, 2) as (x, y)
    source = torch.einsum("bij,hwj->bhwi", matrix, base) + offset[:, None, None, :]
    # pixel centres → grid_sample's normalised coordinates (align_corners=False)
    size = torch.tensor([width, height], dtype=torch.float64)
    grid = ((2 * source + 1) / size - 1).to(device=images.device, dtype=images.dtype)
    shifted = images - spec.pad_value
    return F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + spec.pad_value
