"""Helpers shared by the readers and writers of the published layouts (docs/science.md §2.1).

Readers parse text tables with :func:`read_table` (lines from :func:`text_lines`: strict UTF-8, a BOM
skipped), turn fields into checked integers with :func:`parse_int` and :func:`parse_code`, resolve paths found
in label files with :func:`resolve_inside`, check that roots and required files exist with :func:`require_dir` /
:func:`require_file`, record labels without silent overwrites with :func:`set_label`, and drop missing or
unreadable images with :func:`check_images` (:func:`aelab.data.images.check_image`). Writers save images with
:func:`save_jpeg` / :func:`save_png` and name files with :func:`file_stems`.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm.auto import tqdm

from aelab.data.images import check_image
from aelab.data.sample import Sample
from aelab.errors import DataFormatError, DatasetNotFoundError, MissingImagesError
from aelab.tasks import EMOTIONS, STYLES, TASKS

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
JPEG_QUALITY = 95
SHOWN_PATHS = 5
"""How many offending paths a warning or error message lists."""
PROGRESS_MIN = 200
"""Loops over fewer items than this show no progress bar."""


def progress(items: Iterable, total: int, desc: str) -> Iterable:
    """Wrap a long loop in a tqdm bar (none for short loops)."""
    return tqdm(items, total=total, desc=desc, disable=total < PROGRESS_MIN, leave=False)


# --------------------------------------------------------------------------------------------- text tables
BOM = b"\xef\xbb\xbf"


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` of a label file read as UTF-8 (a leading byte-order mark is skipped).

    Bytes that are not UTF-8 (a Latin-1 or Windows-1252 file) are a :class:`DataFormatError` naming the file,
    line and column, never a silently garbled file name. Line ends (``\\n``, ``\\r\\n``) are removed.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(
                    path, f"not UTF-8: byte 0x{raw[err.start]:02x} at column {err.start + 1}; expected a UTF-8 "
                    f"text file (re-save it as UTF-8)", line=number,
                ) from None
            yield number, text.rstrip("\r\n")


def read_table(
    path: Path,
    n_fields: int | None = None,
    *,
    sep: str | None = None,
    min_fields: int | None = None,
    maxsplit: int = -1,
    from_right: bool = False,
    meaning: str = "",
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for each non-blank line of a UTF-8 text table (:func:`text_lines`).

    Fields are separated by whitespace (``sep=None``) or by ``sep`` (AVA-Comments uses ``'#'``); with
    ``maxsplit`` at most that many splits are made, counted from the right when ``from_right`` is true (so the
    first field may hold spaces). With ``n_fields`` (or ``min_fields``) a line with another count raises
    :class:`DataFormatError` naming the file and line and saying how many fields were expected (``meaning``
    describes them) and found.
    """
    for number, line in text_lines(path):
        if not line.strip():
            continue
        if from_right:
            fields = [f.strip() for f in line.strip().rsplit(sep, maxsplit)]
        else:
            fields = line.split(sep, maxsplit) if sep is None else line.split(sep)
        found = len(fields)
        if n_fields is not None and found != n_fields or min_fields is not None and found < min_fields:
            expected = f"{n_fields}" if n_fields is not None else f"at least {min_fields}"
            what = f" ({meaning})" if meaning else ""
            raise DataFormatError(path, f"expected {expected} fields{what}, found {found}", line=number)
        yield number, fields


def parse_int(text: str, path: Path, line: int | None, what: str) -> int:
    """``int(text)``, or a :class:`DataFormatError` saying that ``what`` must be an integer."""
    try:
        return int(text)
    except ValueError:
        raise DataFormatError(path, f"{what} must be an integer, found {text!r}", line=line) from None


def parse_code(text: str | int, n: int, path: Path, line: int | None, what: str, first: int = 0) -> int:
    """Parse an integer class code in ``first .. first + n - 1``; return it shifted to ``0 .. n - 1``."""
    value = parse_int(text, path, line, what) if isinstance(text, str) else int(text)
    if not first <= value < first + n:
        raise DataFormatError(
            path, f"{what} out of range: expected {first}..{first + n - 1}, found {value}", line=line
        )
    return value - first


def class_index(name: str, names: Sequence[str], path: Path, what: str) -> int:
    """Index of a class name (case-insensitive); an unknown name is a DataFormatError listing ``names``."""
    key = name.lower()
    lowered = [n.lower() for n in names]
    if key not in lowered:
        raise DataFormatError(path, f"unknown {what} {name!r}; expected one of: {', '.join(names)}")
    return lowered.index(key)


EMOTION_ALIASES = {"sad": "sadness"}


def emotion_order(order: Sequence[str], what: str = "emotion_order") -> list[int]:
    """Map a class order (8 names, any permutation of FI's, ``sad`` accepted) to FI indices: code i → result[i]."""
    try:
        result = [EMOTIONS.index(EMOTION_ALIASES.get(n.lower(), n.lower())) for n in order]
    except (ValueError, AttributeError):
        result = []
    if len(result) != len(EMOTIONS) or len(set(result)) != len(EMOTIONS):
        raise ValueError(f"{what} must name each of {', '.join(EMOTIONS)} once, got {tuple(order)}")
    return result


# --------------------------------------------------------------------------------------------- paths
def require_dir(root: str | Path, layout: str, expected: str) -> Path:
    """The data set root as a Path; :class:`DatasetNotFoundError` when it is not a folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{layout} data set root {root} is not a folder; expected a folder with {expected}")
    return root


def require_file(root: Path, name: str, layout: str, what: str) -> Path:
    """``root / name``; :class:`DatasetNotFoundError` naming the path and its role when it is absent."""
    path = root / name
    if not path.exists():
        raise DatasetNotFoundError(f"{layout}: required {what} {path} does not exist")
    return path


def resolve_inside(root: Path, relative: str, label_file: Path, line: int | None = None) -> Path:
    """``root / relative`` for a path read from a label file; a path escaping ``root`` is a DataFormatError.

    The check is lexical (``..`` and absolute paths), so a data root whose folders are symbolic links to
    another disk still works.
    """
    rel = os.path.normpath(relative.replace("\\", "/"))
    if os.path.isabs(rel) or re.match(r"^[A-Za-z]:", rel) or rel == ".." or rel.startswith(".." + os.sep):
        raise DataFormatError(label_file, f"path {relative!r} points outside the data root {root}", line=line)
    return root / rel


def index_folder(folder: Path) -> dict[str, Path]:
    """Map each image file's stem in ``folder`` to its path (one directory listing, any image suffix).

    Two image files with one stem (``12.jpg`` and ``12.png``) are a DataFormatError naming both: which one the
    labels mean cannot be told.
    """
    if not folder.is_dir():
        return {}
    index: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        first = index.setdefault(path.stem, path)
        if first != path:
            raise DataFormatError(
                folder, f"holds {first.name} and {path.name} for image {path.stem!r}; expected one file per image"
            )
    return index


def image_path(index: dict[str, Path], folder: Path, stem: str) -> Path:
    """The image of ``stem`` found by :func:`index_folder`, else ``folder/<stem>.jpg`` (reported missing later)."""
    return index.get(stem, folder / f"{stem}.jpg")


# --------------------------------------------------------------------------------------------- images
def _problem(path: Path, verify: bool) -> tuple[str, str] | None:
    """None when the image opens (and with ``verify`` decodes fully), else ``(kind, reason)``."""
    try:
        check_image(path, decode=verify)
        return None
    except DataFormatError as err:
        return ("missing" if not path.exists() else "unreadable"), str(err)


def check_images(samples: list[Sample], *, strict: bool = False, verify: bool = False) -> list[Sample]:
    """Keep the samples whose image file exists and opens; with ``verify=True`` each image is decoded in full.

    Without ``verify`` only the header is read (a truncated file passes); an image over Pillow's
    decompression-bomb limit is refused either way (:func:`aelab.data.images.open_rgb`). The others are skipped
    with ONE warning giving the count, the first paths and the first reason, or with ``strict=True`` a
    :class:`MissingImagesError` is raised. In-memory and rendered images are not checked.
    """
    on_disk = [i for i, s in enumerate(samples) if isinstance(s.image, (str, os.PathLike))]
    paths = [Path(samples[i].image) for i in on_disk]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(progress(pool.map(lambda p: _problem(p, verify), paths), len(paths), "checking images"))
    bad = {i: problem for i, problem in zip(on_disk, results) if problem}
    if not bad:
        return samples
    bad_paths = [Path(samples[i].image) for i in bad]
    if strict:
        raise MissingImagesError(bad_paths, total=len(samples))
    missing = sum(kind == "missing" for kind, _ in bad.values())
    shown = ", ".join(str(p) for p in bad_paths[:SHOWN_PATHS])
    more = "" if len(bad_paths) <= SHOWN_PATHS else f" and {len(bad_paths) - SHOWN_PATHS} more"
    reasons = [reason for kind, reason in bad.values() if kind == "unreadable"]
    first = f"; first unreadable: {reasons[0]}" if reasons else ""
    warnings.warn(
        f"{len(bad)} of {len(samples)} listed images skipped ({missing} missing, {len(bad) - missing} "
        f"unreadable): {shown}{more}{first}",
        stacklevel=3,
    )
    return [s for i, s in enumerate(samples) if i not in bad]


def save_jpeg(image: Image.Image, path: Path, quality: int = JPEG_QUALITY) -> Path:
    """Write an image as an RGB JPEG (quality 95), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, "JPEG", quality=quality)
    return path


def save_png(image: Image.Image, path: Path) -> Path:
    """Write an image as a lossless RGB PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, "PNG")
    return path


def file_stems(samples: Sequence[Sample]) -> list[str]:
    """A file-name-safe stem per sample id (last ``/`` component, odd characters → ``_``); ValueError on clashes."""
    stems = [re.sub(r"[^A-Za-z0-9._-]", "_", s.id.rsplit("/", 1)[-1]).lstrip(".") or "_" for s in samples]
    if len(set(stems)) != len(stems):
        seen: set[str] = set()
        clash = next(x for x in stems if x in seen or seen.add(x))
        raise ValueError(f"two samples would be written to the same file name {clash!r}; give them distinct ids")
    return stems


def require_labels(samples: Sequence[Sample], keys: Sequence[str], layout: str) -> None:
    """ValueError naming the first samples that lack a label the ``layout`` must store."""
    lacking = [s.id for s in samples if any(k not in s.labels for k in keys)]
    if lacking:
        raise ValueError(
            f"the {layout} layout stores {', '.join(keys)} for every image; {len(lacking)} samples lack it: "
            f"{', '.join(lacking[:SHOWN_PATHS])}"
        )


# --------------------------------------------------------------------------------------------- labels
Origins = dict[tuple[Any, str], tuple[Path, int | None]]
"""Where each ``(key, label name)`` was first read: label file and line."""


def set_label(
    table: dict[Any, dict], key: Any, name: str, value: Any, path: Path, line: int | None,
    origins: Origins | None = None,
) -> None:
    """``table[key][name] = value``; a different value already there is a DataFormatError (never overwrite).

    The same value read again is accepted once. With ``origins`` the error also names the file and line of the
    first value.
    """
    labels = table.setdefault(key, {})
    if name in labels and labels[name] != value:
        first = ""
        if origins is not None and (key, name) in origins:
            first_path, first_line = origins[key, name]
            place = "line" if first_path == path else f"{first_path}, line"
            first = f" from {place} {first_line}"
        raise DataFormatError(
            path, f"image {key} already has {name} = {labels[name]!r}{first}; this line says {value!r}", line=line
        )
    if name not in labels and origins is not None:
        origins[key, name] = (path, line)
    labels[name] = value


def refuse_shared_ids(samples: Sequence[Sample]) -> None:
    """DataFormatError when two different image files give the same sample id (``a.jpg`` and ``a.png``)."""
    seen: dict[str, Path] = {}
    for sample in samples:
        path = Path(sample.image)
        first = seen.setdefault(sample.id, path)
        if first != path:
            raise DataFormatError(
                path, f"gives sample id {sample.id!r}, as {first} does; expected one image file per id "
                f"(remove or rename one)",
            )


def _sequence(value: Any) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, (str, bytes, dict))


LABEL_CHECKS = {
    "aesthetic": lambda v: v in (0, 1),
    "sentiment": lambda v: v in (0, 1),
    "emotion": lambda v: isinstance(v, int) and 0 <= v < len(EMOTIONS),
    "aesthetic_score": lambda v: isinstance(v, (int, float)) and 1 <= v <= 10,
    "style": lambda v: _sequence(v) and len(v) == len(STYLES) and all(0 <= float(x) <= 1 for x in v),
    "comments": lambda v: _sequence(v) and all(isinstance(x, str) for x in v),
}
"""What a valid value of each canonical label looks like (:data:`aelab.tasks.TASKS`)."""


def validate_labels(labels: Any, path: Path, line: int | None) -> dict[str, Any]:
    """Check canonical labels (keys of :data:`aelab.tasks.TASKS`, values in range); DataFormatError otherwise."""
    if not isinstance(labels, dict):
        raise DataFormatError(path, f"labels must be an object, found {type(labels).__name__}", line=line)
    for key, value in labels.items():
        if key not in LABEL_CHECKS:
            raise DataFormatError(path, f"unknown label {key!r}; expected one of: {', '.join(TASKS)}", line=line)
        try:
            ok = LABEL_CHECKS[key](value) and not (isinstance(value, float) and math.isnan(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise DataFormatError(path, f"label {key} out of range or of the wrong type: {value!r}", line=line)
    return labels
