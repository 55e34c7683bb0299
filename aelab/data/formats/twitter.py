"""Twitter image sentiment layout (You et al. 2015), docs/science.md §2.1.

``twitter_{five,four,three}_agrees.txt``: one ``<image_filename> <label>`` per line (1 positive, 0 negative);
images in ``Agg_AMT_Candidates/``. The three subsets are nested: an image on which five annotators agree is
also in the four- and three-agree lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aelab.data.formats.common import (
    check_images,
    file_stems,
    parse_code,
    progress,
    read_table,
    require_dir,
    require_file,
    resolve_inside,
    save_jpeg,
)
from aelab.data.sample import Sample
from aelab.errors import DataFormatError, UnknownNameError
from aelab.tasks import is_positive

AGREES: tuple[str, ...] = ("five", "four", "three")
IMAGES = "Agg_AMT_Candidates"


def label_file(agree: str) -> str:
    """File name of an agreement subset."""
    if agree not in AGREES:
        raise UnknownNameError("twitter agreement subset", agree, AGREES)
    return f"twitter_{agree}_agrees.txt"


def read_twitter(
    root: str | Path, *, agree: str = "five", strict: bool = False, verify: bool = False
) -> list[Sample]:
    """Read one Twitter subset (docs/science.md §2.1): ``agree`` in ``five`` (default), ``four``, ``three``.

    Sample id = image file stem, label ``sentiment``; ``meta["agree"]`` records the subset read. The label is
    the last field of a line, so a file name may contain spaces (``my photo.jpg 1``). A file listed again with
    the same label is read once; with the other label, or two files giving one id (``a.jpg``, ``a.png``), it is
    a :class:`DataFormatError` naming both lines. A file name leading outside the root, or a label other than
    0/1, is a :class:`DataFormatError` too.
    """
    root = require_dir(root, "twitter", f"{label_file(agree)} and {IMAGES}/")
    labels_path = require_file(root, label_file(agree), "twitter", f"{agree}-agree label file")
    images = require_file(root, IMAGES, "twitter", "image folder")
    samples: dict[str, Sample] = {}
    first_line: dict[str, int] = {}
    rows = read_table(labels_path, 2, maxsplit=1, from_right=True, meaning="<image_filename> <label>")
    for line, (name, label) in rows:
        sentiment = parse_code(label, 2, labels_path, line, "sentiment label")
        path = resolve_inside(images, name, labels_path, line)
        sample = Sample(Path(name).stem, {"sentiment": sentiment}, path, meta={"agree": agree})
        known = samples.setdefault(sample.id, sample)
        if known is not sample:
            _same_entry(known, sample, labels_path, first_line[sample.id], line)
        first_line.setdefault(sample.id, line)
    return check_images(list(samples.values()), strict=strict, verify=verify)


def _same_entry(first: Sample, again: Sample, path: Path, first_line: int, line: int) -> None:
    """Accept a repeated line with the same file and label; DataFormatError naming both lines otherwise."""
    if first.image != again.image:
        raise DataFormatError(
            path, f"{Path(again.image).name!r} gives sample id {again.id!r}, as {Path(first.image).name!r} on "
            f"line {first_line} does; expected one file per id", line=line,
        )
    if first.labels != again.labels:
        raise DataFormatError(
            path, f"{Path(again.image).name!r} is labelled {again.labels['sentiment']} here but "
            f"{first.labels['sentiment']} on line {first_line}; expected one label per image", line=line,
        )


def _sentiment(sample: Sample) -> int:
    """``sentiment``, else the valence of ``emotion``; ValueError when the sample has neither."""
    if "sentiment" in sample.labels:
        return int(sample.labels["sentiment"])
    if "emotion" in sample.labels:
        return int(is_positive(sample.labels["emotion"]))
    raise ValueError(f"the twitter layout needs a sentiment (or emotion) label; sample {sample.id!r} has neither")


def write_twitter(samples: Sequence[Sample], root: str | Path) -> Path:
    """Write the Twitter layout: images as ``Agg_AMT_Candidates/<id>.jpg`` and the three agreement files.

    A sample goes into the ``meta["agree"]`` subset and the looser ones (``four`` → four and three); without
    it, into all three. ``sentiment`` falls back to the valence of ``emotion`` when absent.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {agree: [] for agree in AGREES}
    for sample, stem in progress(zip(samples, file_stems(samples)), len(samples), "writing twitter"):
        sentiment = _sentiment(sample)
        agree = sample.meta.get("agree", AGREES[0])
        label_file(agree)  # validates the name
        save_jpeg(sample.load_image(), root / IMAGES / f"{stem}.jpg")
        for level in AGREES[AGREES.index(agree):]:
            lines[level].append(f"{stem}.jpg {sentiment}\n")
    for agree, rows in lines.items():
        (root / label_file(agree)).write_text("".join(rows), encoding="utf-8")
    return root
