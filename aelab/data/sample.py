"""The record every reader and generator produces: an image (on disk, in memory or rendered on demand) and its labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

from PIL import Image

from aelab.data.images import open_rgb, to_rgb

ImageSource = Union[Path, Image.Image, Callable[[], Image.Image]]


@dataclass
class Sample:
    """One image and its canonical labels (keys of :data:`aelab.tasks.TASKS`).

    ``image`` is a path, an in-memory PIL image, or a zero-argument callable that renders it
    (SynthAE renders lazily so that a list of samples costs nothing until images are needed).
    ``factors`` holds a generator's ground truth (SynthAE: subject box, palette, effects);
    ``meta`` holds extra fields a published layout carries (AVA semantic tags, rater scores, ...).
    """

    id: str
    labels: dict[str, Any]
    image: ImageSource
    factors: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def load_image(self) -> Image.Image:
        """Return the image as 8-bit RGB (:func:`aelab.data.images.to_rgb`: 16-bit scaled, transparency on white);
        a file that cannot be decoded raises :class:`DataFormatError` naming it."""
        source = self.image
        if isinstance(source, Image.Image):
            return to_rgb(source)
        if callable(source):
            return to_rgb(source())
        return open_rgb(source, what=f"image of sample {self.id!r}")
