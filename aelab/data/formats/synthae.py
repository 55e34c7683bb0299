"""aelab's own folder layout for SynthAE (and any sample list): ``images/<id>.png`` + ``labels.jsonl``.

Each line of ``labels.jsonl`` is ``{"id", "image", "labels", "factors", "meta"}`` with the image path relative to
the root. Tuples, NumPy arrays and scalars and paths inside factors/meta are tagged so that a set written here
reads back exactly (same ids, labels, factors, meta; PNG images are lossless).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aelab.data.formats.common import (
    check_images,
    file_stems,
    progress,
    require_dir,
    require_file,
    resolve_inside,
    save_jpeg,
    save_png,
    text_lines,
    validate_labels,
)
from aelab.data.sample import Sample
from aelab.errors import DataFormatError, UnknownNameError

LABELS_FILE = "labels.jsonl"
IMAGE_FORMATS = {"png": save_png, "jpg": save_jpeg}


def encode(value: Any) -> Any:
    """A JSON-ready copy of ``value``; tuples, arrays, paths and non-string-keyed dicts become tagged objects."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": encode(value.tolist()), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__items__": [[encode(k), encode(v)] for k, v in value.items()]}
    return value


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return np.array(decode(value["__ndarray__"]), dtype=value["dtype"]).reshape(value["shape"])
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__path__" in value:
        return Path(value["__path__"])
    if "__items__" in value:
        return {_hashable(decode(k)): decode(v) for k, v in value["__items__"]}
    return {k: decode(v) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def read_synthae(root: str | Path, *, strict: bool = False, verify: bool = False) -> list[Sample]:
    """Read a folder written by :func:`write_synthae`: ``labels.jsonl`` (UTF-8, a BOM allowed) + the images it names.

    Labels are checked against the canonical keys and ranges; a bad line, an unknown label, a value out of range
    or an image path leaving the root is a :class:`DataFormatError` naming the file and line. An id listed again
    with the same record is read once; with a different image, labels, factors or meta it is a
    :class:`DataFormatError` naming both lines and both values.
    """
    root = require_dir(root, "synthae", f"{LABELS_FILE} and images/")
    path = require_file(root, LABELS_FILE, "synthae", "label file")
    samples = []
    seen: dict[str, tuple[int, dict]] = {}
    for line, text in text_lines(path):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, f"not a JSON object: {err}", line=line) from None
        missing = [k for k in ("id", "image", "labels") if not isinstance(record, dict) or k not in record]
        if missing:
            raise DataFormatError(path, f"record lacks {', '.join(missing)}", line=line)
        ident = str(record["id"])
        if ident in seen:
            _same_record(ident, *seen[ident], line, record, path)
            continue
        seen[ident] = (line, record)
        labels = validate_labels(decode(record["labels"]), path, line)
        image = resolve_inside(root, str(record["image"]), path, line)
        meta = decode(record.get("meta") or {})
        if not isinstance(meta, dict):
            raise DataFormatError(path, f"meta must be an object, found {type(meta).__name__}", line=line)
        samples.append(Sample(ident, labels, image, decode(record.get("factors")), meta))
    return check_images(samples, strict=strict, verify=verify)


RECORD_FIELDS = ("labels", "image", "factors", "meta")


def _same_record(ident: str, first_line: int, first: dict, line: int, again: dict, path: Path) -> None:
    """Accept a repeated record equal to the first; DataFormatError naming both lines and values otherwise."""
    for key in RECORD_FIELDS:
        if first.get(key) != again.get(key):
            raise DataFormatError(
                path, f"id {ident!r} is listed again with other {key}: {again.get(key)!r} here, "
                f"{first.get(key)!r} on line {first_line}; expected one record per id", line=line,
            )


def write_synthae(samples: Sequence[Sample], root: str | Path, *, image_format: str = "png") -> Path:
    """Write ``images/<id>.<png|jpg>`` and ``labels.jsonl`` (every label, factor and meta field).

    ``image_format="png"`` (default) is lossless, so the set round-trips exactly; ``"jpg"`` saves space.
    """
    if image_format not in IMAGE_FORMATS:
        raise UnknownNameError("synthae image format", image_format, list(IMAGE_FORMATS))
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for sample, stem in progress(zip(samples, file_stems(samples)), len(samples), "writing synthae"):
        relative = f"images/{stem}.{image_format}"
        IMAGE_FORMATS[image_format](sample.load_image(), root / relative)
        record = {"id": sample.id, "image": relative, "labels": encode(sample.labels),
                  "factors": encode(sample.factors), "meta": encode(sample.meta)}
        lines.append(json.dumps(record) + "\n")
    (root / LABELS_FILE).write_text("".join(lines), encoding="utf-8")
    return root
