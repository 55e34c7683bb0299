"""FI (Flickr & Instagram emotions) layout, docs/science.md §2.1: ``emotion_dataset/<emotion>/<file>.jpg``.

The label is the folder name (FI order, :data:`aelab.tasks.EMOTIONS`); ``sentiment`` follows from valence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aelab.data.formats.common import (
    IMAGE_SUFFIXES,
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
from aelab.errors import DatasetNotFoundError
from aelab.tasks import EMOTIONS, is_positive

FOLDER = "emotion_dataset"


def _emotion_root(root: Path) -> Path:
    """``root/emotion_dataset``, or ``root`` itself when it already holds the emotion folders."""
    if (root / FOLDER).is_dir():
        return root / FOLDER
    if any((root / name).is_dir() for name in EMOTIONS):
        return root
    raise DatasetNotFoundError(
        f"fi: {root} holds neither {FOLDER}/ nor any of the emotion folders {', '.join(EMOTIONS)}"
    )


def read_fi(root: str | Path, *, strict: bool = False, verify: bool = False) -> list[Sample]:
    """Read FI (docs/science.md §2.1): every image under ``emotion_dataset/<emotion>/`` (``root`` may be that folder).

    Sample ids are ``<emotion>/<file stem>``. Labels: ``emotion`` (FI index of the folder name) and
    ``sentiment`` (1 for amusement, awe, contentment, excitement). A folder with another name is a
    :class:`DataFormatError`; hidden entries and non-image files are ignored. Missing or unreadable images are
    skipped with one warning (``strict=True``: :class:`MissingImagesError`).
    """
    base = _emotion_root(require_dir(root, "fi", f"{FOLDER}/<emotion>/<file>.jpg"))
    samples = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        emotion = class_index(folder.name, EMOTIONS, folder, "emotion folder")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                labels = {"emotion": emotion, "sentiment": int(is_positive(emotion))}
                samples.append(Sample(f"{EMOTIONS[emotion]}/{path.stem}", labels, path))
    refuse_shared_ids(samples)
    return check_images(samples, strict=strict, verify=verify)


def write_fi(samples: Sequence[Sample], root: str | Path) -> Path:
    """Write samples with an ``emotion`` label in the FI layout: ``root/emotion_dataset/<emotion>/<id>.jpg``."""
    require_labels(samples, ["emotion"], "fi")
    root = Path(root)
    base = root / FOLDER
    for sample, stem in progress(zip(samples, file_stems(samples)), len(samples), "writing fi"):
        save_jpeg(sample.load_image(), base / EMOTIONS[sample.labels["emotion"]] / f"{stem}.jpg")
    return root
