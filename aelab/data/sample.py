"""The record every reader and generator produces: an image (on disk, in memory or rendered on demand) and its labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

from PIL import Image, UnidentifiedImageError

from aelab.errors import DataFormatError

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
        """Return the image as RGB; a file that cannot be decoded raises :class:`DataFormatError` naming it."""
        source = self.image
        if isinstance(source, Image.Image):
            image = source
        elif callable(source):
            image = source()
        else:
            path = Path(source)
            try:
                with Image.open(path) as opened:
                    image = opened.convert("RGB")
            except FileNotFoundError:
                raise DataFormatError(path, f"image of sample {self.id!r} does not exist") from None
            except (UnidentifiedImageError, OSError) as err:
                raise DataFormatError(path, f"image of sample {self.id!r} cannot be read: {err}") from None
            return image
        return image if image.mode == "RGB" else image.convert("RGB")
