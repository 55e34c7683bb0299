"""ArtPhoto layout, docs/science.md §2.1: a flat folder of JPEGs named ``<emotion>_<anything>.jpg``.

The prefixes are ``amusement anger awe contentment disgust excitement fear sad`` (``sad`` means FI's
``sadness``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aelab.data.formats.common import (
    check_images,
    class_index,
    file_stems,
    progress,
    refuse_shared_ids,
    require_dir,
    require_labels,
    save_jpeg,
)
from aelab.data.sample import Sample
from aelab.tasks import is_positive

PREFIXES: tuple[str, ...] = ("amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear", "sad")
"""ArtPhoto's file-name prefixes, index-aligned with :data:`aelab.tasks.EMOTIONS`."""

SUFFIXES = (".jpg", ".jpeg")


def read_artphoto(root: str | Path, *, strict: bool = False, verify: bool = False) -> list[Sample]:
    """Read ArtPhoto (docs/science.md §2.1): label = file-name prefix before the first ``_``.

    Every ``*.jpg``/``*.jpeg`` file in ``root`` is an image (other files are ignored); sample id = file stem.
    Labels: ``emotion`` (FI index) and ``sentiment`` (valence). An unknown prefix is a
    :class:`DataFormatError` naming the file and listing the expected prefixes.
    """
    root = require_dir(root, "artphoto", "JPEGs named <emotion>_<n>.jpg")
    samples = []
    for path in sorted(root.iterdir()):
        if path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
            continue
        emotion = class_index(path.stem.split("_", 1)[0], PREFIXES, path, "file-name prefix")
        samples.append(Sample(path.stem, {"emotion": emotion, "sentiment": int(is_positive(emotion))}, path))
    refuse_shared_ids(samples)
    return check_images(samples, strict=strict, verify=verify)


def write_artphoto(samples: Sequence[Sample], root: str | Path) -> Path:
    """Write samples with an ``emotion`` label as ``root/<prefix>_<id>.jpg`` (no double prefix)."""
    require_labels(samples, ["emotion"], "artphoto")
    root = Path(root)
    for sample, stem in progress(zip(samples, file_stems(samples)), len(samples), "writing artphoto"):
        prefix = PREFIXES[sample.labels["emotion"]]
        name = stem if stem.startswith(prefix + "_") else f"{prefix}_{stem}"
        save_jpeg(sample.load_image(), root / f"{name}.jpg")
    return root
