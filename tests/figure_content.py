"""What a saved figure holds, for tests of notebooks and commands that write PNG files: its pixels, whether
something was drawn on it, and whether it is the drawing a test makes again from the same data."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402


def pixels(source: str | Path | io.BytesIO) -> np.ndarray:
    """``(H, W, 3)`` RGB values in 0..255 (integers) of a PNG file; transparency is dropped."""
    image = mpimg.imread(source, format="png")
    return (np.asarray(image)[..., :3] * 255).round().astype(np.int16)


def assert_drawn(path: str | Path, min_colours: int = 8, min_size: int = 64) -> np.ndarray:
    """The PNG at ``path`` holds a drawing: at least ``min_size`` px a side, ``min_colours`` distinct colours, and
    its most common colour (the background) leaves at least 2 % of the pixels to something else; returns the
    pixels."""
    image = pixels(path)
    height, width, _ = image.shape
    assert min(height, width) >= min_size, f"{path}: {width} x {height} px"
    flat = image.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    assert len(colours) >= min_colours, f"{path}: only {len(colours)} colours"
    assert counts.max() / len(flat) <= 0.98, f"{path}: {counts.max() / len(flat):.1%} of it is one colour"
    return image


def assert_same_drawing(path: str | Path, figure, dpi: int) -> None:
    """The PNG at ``path`` is ``figure`` (drawn again by the test from the data it shows), pixel for pixel."""
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png")
    buffer.seek(0)
    saved, again = pixels(path), pixels(buffer)
    assert saved.shape == again.shape, f"{path}: {saved.shape} px, the same figure drawn again: {again.shape}"
    differing = np.abs(saved - again).max(axis=-1) > 2
    assert differing.mean() < 0.001, f"{path}: {differing.mean():.1%} of the pixels differ from the figure drawn again"
