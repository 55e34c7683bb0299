"""UAE and IAE layouts (the same 22,086 images, two distributions), docs/science.md §2.1.

- ``uae``: ``images/<index>.jpg``; ``{train,val,test}_aes_list.txt`` (``IMAGE_ID AESTHETIC_LABEL``, 0 low / 1 high)
  and ``{train,val,test}_emo_list.txt`` (``IMAGE_ID EMOTION_LABEL``); optional ``scores.h5``.
- ``iae``: ``final_aes_emo.h5`` with ``image``, ``aes`` (one-hot, ``[0,1]`` = high) and ``emo`` (one-hot in
  :data:`IAE_ORDER`, not FI's order); optional ``scores.h5``.

``scores.h5`` holds dataset ``score``, one row per image (UAE: row = image index), columns 1–10 the raters'
scores and column 11 their total. **(choice)** When the key is not ``score`` the file's only 2-D dataset is
used; ``aesthetic_score`` is the mean of the 10 raters and ``meta["ratings"]`` keeps them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from aelab.data.formats.common import (
    Origins,
    IMAGE_SUFFIXES,
    check_images,
    emotion_order as order_to_fi,
    image_path,
    index_folder,
    parse_code,
    progress,
    read_table,
    require_dir,
    require_file,
    require_labels,
    resolve_inside,
    save_jpeg,
    set_label,
)
from aelab.data.sample import Sample
from aelab.data.splits import split_indices
from aelab.errors import DataFormatError, DatasetNotFoundError, UnknownNameError
from aelab.tasks import EMOTIONS

SPLITS: tuple[str, ...] = ("train", "val", "test")
IAE_ORDER: tuple[str, ...] = (
    "amusement", "excitement", "awe", "contentment", "disgust", "anger", "fear", "sadness",
)
"""Column order of IAE's ``emo`` one-hot vectors (its ``sad`` is FI's ``sadness``)."""
IAE_FILE = "final_aes_emo.h5"
SCORES_FILE = "scores.h5"
RATERS = 10


# --------------------------------------------------------------------------------------------- scores.h5
def open_h5(path: Path) -> h5py.File:
    """Open an HDF5 file for reading; a file that is not HDF5 is a :class:`DataFormatError`."""
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataFormatError(path, f"not a readable HDF5 file ({err})") from None


def read_scores(path: Path) -> np.ndarray:
    """The N×11 rater-score matrix of ``scores.h5`` (key ``score``, else the file's only 2-D dataset)."""
    with open_h5(path) as h5:
        if isinstance(h5.get("score"), h5py.Dataset):
            scores = h5["score"][()]
        else:
            two_d: list[str] = []
            h5.visititems(lambda name, obj: two_d.append(name) if getattr(obj, "ndim", 0) == 2 else None)
            if len(two_d) != 1:
                raise DataFormatError(path, f"no dataset 'score' and {len(two_d)} 2-D datasets {two_d}; expected one")
            scores = h5[two_d[0]][()]
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] < RATERS or scores.dtype.kind not in "iuf":
        raise DataFormatError(path, f"expected N×11 numeric scores (10 raters + total), found {scores.dtype} {scores.shape}")
    return scores.astype(float)


def score_labels(scores: np.ndarray, row: int, path: Path) -> tuple[dict, dict]:
    """``({"aesthetic_score": mean}, {"ratings": [...]})`` for one row (empty dicts for a NaN row)."""
    if row >= len(scores):
        raise DataFormatError(path, f"has {len(scores)} rows of scores; image {row} has none")
    ratings = scores[row, :RATERS]
    if np.isnan(ratings).any():
        return {}, {}
    listed = [int(r) if float(r).is_integer() else float(r) for r in ratings]
    return {"aesthetic_score": float(ratings.mean())}, {"ratings": listed}


def write_scores(samples: Sequence[Sample], root: Path) -> None:
    """Write ``scores.h5`` (N×11: 10 ratings and their total, NaN rows without ratings) when samples have ratings."""
    if not any("ratings" in s.meta for s in samples):
        return
    scores = np.full((len(samples), RATERS + 1), np.nan)
    for row, sample in enumerate(samples):
        if "ratings" in sample.meta:
            ratings = np.asarray(sample.meta["ratings"], dtype=float)
            if ratings.shape != (RATERS,):
                raise ValueError(f"sample {sample.id!r}: meta['ratings'] must hold {RATERS} scores, got {ratings.shape}")
            scores[row] = [*ratings, ratings.sum()]
    with h5py.File(root / SCORES_FILE, "w") as h5:
        h5["score"] = scores


def _with_scores(root: Path, samples: list[Sample], rows: list[int]) -> None:
    """Add ``aesthetic_score`` and ``meta["ratings"]`` from ``root/scores.h5`` (row ``rows[i]`` for sample i)."""
    path = root / SCORES_FILE
    if not path.exists():
        return
    scores = read_scores(path)
    for sample, row in zip(samples, rows):
        labels, meta = score_labels(scores, row, path)
        sample.labels.update(labels)
        sample.meta.update(meta)


# --------------------------------------------------------------------------------------------- UAE
def _image_index(text: str, path: Path, line: int) -> int:
    """An ``IMAGE_ID``: a non-negative integer, optionally written as a file name ``123.jpg``."""
    stem, dot, suffix = text.rpartition(".")
    digits = stem if dot and f".{suffix.lower()}" in IMAGE_SUFFIXES else text
    if not re.fullmatch(r"[0-9]+", digits):
        raise DataFormatError(path, f"IMAGE_ID must be a non-negative integer image index, found {text!r}", line=line)
    return int(digits)


def read_uae(
    root: str | Path,
    *,
    split: str = "all",
    emotion_order: Sequence[str] = EMOTIONS,
    strict: bool = False,
    verify: bool = False,
) -> list[Sample]:
    """Read UAE (docs/science.md §2.1) — the official ``split`` (``train``/``val``/``test``) or ``all`` (default).

    ``emotion_order`` names what emotion code i means (undocumented by UAE; default FI order) and is
    converted to FI indices. Samples (id = image index, sorted) carry the labels their lists give
    (``aesthetic``, ``emotion``; an id in only one list carries only that label), ``meta["split"]``, and with
    ``scores.h5`` also ``aesthetic_score`` and ``meta["ratings"]``.
    """
    if split not in (*SPLITS, "all"):
        raise UnknownNameError("uae split", split, (*SPLITS, "all"))
    codes = order_to_fi(emotion_order)
    root = require_dir(root, "uae", "images/ and {train,val,test}_{aes,emo}_list.txt")
    images = require_file(root, "images", "uae", "image folder")
    table: dict[int, dict] = {}
    parts: dict[int, dict] = {}
    origins: Origins = {}
    for part in SPLITS if split == "all" else (split,):
        lists = {kind: root / f"{part}_{kind}_list.txt" for kind in ("aes", "emo")}
        if not any(p.exists() for p in lists.values()):
            raise DatasetNotFoundError(f"uae: the {part} split has no label list: expected {lists['aes']} or {lists['emo']}")
        for kind, path in lists.items():
            if not path.exists():
                continue
            for line, (ident, code) in read_table(path, 2, meaning=f"IMAGE_ID {kind.upper()}_LABEL"):
                index = _image_index(ident, path, line)
                if kind == "aes":
                    aesthetic = parse_code(code, 2, path, line, "aesthetic label")
                    set_label(table, index, "aesthetic", aesthetic, path, line, origins)
                else:
                    emotion = codes[parse_code(code, len(EMOTIONS), path, line, "emotion label")]
                    set_label(table, index, "emotion", emotion, path, line, origins)
                set_label(parts, index, "split", part, path, line, origins)
    found = index_folder(images)
    order = sorted(table)
    samples = [Sample(str(i), table[i], image_path(found, images, str(i)), meta=dict(parts[i])) for i in order]
    _with_scores(root, samples, order)
    return check_images(samples, strict=strict, verify=verify)


def write_uae(
    samples: Sequence[Sample], root: str | Path, *, seed: int = 0, emotion_order: Sequence[str] = EMOTIONS
) -> Path:
    """Write UAE: sample i → ``images/<i>.jpg``; label lists per split; ``scores.h5`` from ``meta["ratings"]``.

    The split is the samples' ``meta["split"]`` when every sample has one, else ``split_indices(n, seed=seed)``
    (70/10/20). Emotions are written as codes of ``emotion_order``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    given = [s.meta.get("split") for s in samples]
    if not all(part in SPLITS for part in given):
        given = [""] * len(samples)
        for part, indices in split_indices(len(samples), seed=seed).items():
            for i in indices:
                given[i] = part
    code_of = {fi: code for code, fi in enumerate(order_to_fi(emotion_order))}
    lines: dict[str, list[str]] = {f"{p}_{k}": [] for p in SPLITS for k in ("aes", "emo")}
    for i, sample in progress(enumerate(samples), len(samples), "writing uae"):
        save_jpeg(sample.load_image(), root / "images" / f"{i}.jpg")
        if "aesthetic" in sample.labels:
            lines[f"{given[i]}_aes"].append(f"{i} {int(sample.labels['aesthetic'])}\n")
        if "emotion" in sample.labels:
            lines[f"{given[i]}_emo"].append(f"{i} {code_of[sample.labels['emotion']]}\n")
    for name, rows in lines.items():
        (root / f"{name}_list.txt").write_text("".join(rows), encoding="utf-8")
    write_scores(samples, root)
    return root


# --------------------------------------------------------------------------------------------- IAE
def _dataset(h5: h5py.File, key: str, path: Path) -> np.ndarray:
    if not isinstance(h5.get(key), h5py.Dataset):
        raise DataFormatError(path, f"key {key!r} is missing or not a dataset; found keys: {', '.join(h5.keys())}")
    return np.asarray(h5[key][()])


def _one_hot(array: np.ndarray, width: int, path: Path, key: str) -> np.ndarray:
    """Column index of each one-hot row; DataFormatError naming the file, key and first bad row."""
    if array.ndim != 2 or array.shape[1] != width or array.dtype.kind not in "biuf":
        raise DataFormatError(path, f"key {key!r} must be N×{width} one-hot, found {array.dtype} {array.shape}")
    good = ((array == 0) | (array == 1)).all(axis=1) & (array.sum(axis=1) == 1)
    bad = np.flatnonzero(~good)
    if bad.size:
        raise DataFormatError(path, f"key {key!r} row {bad[0]} is not one-hot: {array[bad[0]].tolist()}")
    return array.argmax(axis=1)


def _array_image(array: np.ndarray, row: int) -> Image.Image:
    return Image.fromarray(array[row])


def _name(value: object, path: Path, row: int) -> str:
    """An entry of IAE's ``image`` key as text; bytes must be UTF-8 (never a silently garbled file name)."""
    if not isinstance(value, bytes):
        return str(value)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(
            path, f"key 'image' row {row}: file name {bytes(value)!r} is not UTF-8; expected UTF-8 text"
        ) from None


def _iae_images(image: np.ndarray, root: Path, path: Path) -> tuple[list[str], list]:
    """Ids and image sources from IAE's ``image`` key: file names / ids under ``images/``, or pixels."""
    images = root / "images"
    if image.dtype == np.uint8 and image.ndim == 4 and image.shape[-1] == 3:
        return [str(i) for i in range(len(image))], [functools.partial(_array_image, image, i) for i in range(len(image))]
    if image.ndim == 1 and image.dtype.kind in "SOiu":
        found = index_folder(images)
        ids, sources = [], []
        for row, value in enumerate(image):
            name = _name(value, path, row)
            has_suffix = Path(name).suffix.lower() in IMAGE_SUFFIXES
            target = resolve_inside(images, name if has_suffix else f"{name}.jpg", path)
            ids.append(Path(name).stem if has_suffix else name)
            sources.append(target if has_suffix else image_path(found, images, name))
        return ids, sources
    raise DataFormatError(
        path, f"key 'image' must hold file names, integer ids or N×H×W×3 uint8 pixels; found {image.dtype} {image.shape}"
    )


def read_iae(root: str | Path, *, strict: bool = False, verify: bool = False) -> list[Sample]:
    """Read IAE (docs/science.md §2.1): ``final_aes_emo.h5`` → ``aesthetic`` and ``emotion`` (converted to FI order).

    ``image`` may hold file names or ids (strings or integers, files under ``images/``; id = file stem) or a
    uint8 N×H×W×3 array (kept in memory; id = row). A row of ``aes``/``emo`` that is not one-hot is a
    :class:`DataFormatError`. With ``scores.h5`` (row = h5 row) also ``aesthetic_score`` and ``meta["ratings"]``.
    """
    root = require_dir(root, "iae", IAE_FILE)
    path = require_file(root, IAE_FILE, "iae", "label file")
    with open_h5(path) as h5:
        image, aes, emo = (_dataset(h5, key, path) for key in ("image", "aes", "emo"))
    if not len(image) == len(aes) == len(emo):
        raise DataFormatError(path, f"keys image, aes, emo have {len(image)}, {len(aes)}, {len(emo)} rows; expected equal")
    aesthetic = _one_hot(aes, 2, path, "aes")
    to_fi = order_to_fi(IAE_ORDER)
    emotion = [to_fi[code] for code in _one_hot(emo, len(EMOTIONS), path, "emo")]
    ids, sources = _iae_images(image, root, path)
    samples = [
        Sample(ident, {"aesthetic": int(a), "emotion": int(e)}, source)
        for ident, a, e, source in zip(ids, aesthetic, emotion, sources)
    ]
    _with_scores(root, samples, list(range(len(samples))))
    return check_images(samples, strict=strict, verify=verify)


def write_iae(samples: Sequence[Sample], root: str | Path, *, embed: bool = False) -> Path:
    """Write IAE: ``final_aes_emo.h5`` (one-hot ``aes``, ``emo`` in :data:`IAE_ORDER`) and ``scores.h5``.

    ``image`` holds file names ``<i>.jpg`` of JPEGs under ``images/``, or with ``embed=True`` the pixels
    (uint8 N×H×W×3; all images must have one size). Every sample needs ``aesthetic`` and ``emotion``.
    """
    require_labels(samples, ["aesthetic", "emotion"], "iae")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    n = len(samples)
    aes = np.zeros((n, 2), np.uint8)
    aes[np.arange(n), [int(s.labels["aesthetic"]) for s in samples]] = 1
    column = [IAE_ORDER.index(EMOTIONS[s.labels["emotion"]]) for s in samples]
    emo = np.zeros((n, len(EMOTIONS)), np.uint8)
    emo[np.arange(n), column] = 1
    loaded = (s.load_image() for s in samples)
    if embed:
        pixels = [np.asarray(im) for im in progress(loaded, n, "embedding iae")]
        if len({p.shape for p in pixels}) > 1:
            raise ValueError(f"embed=True needs images of one size; found {sorted({p.shape for p in pixels})}")
        image = np.stack(pixels) if pixels else np.zeros((0, 1, 1, 3), np.uint8)
    else:
        for i, im in progress(enumerate(loaded), n, "writing iae"):
            save_jpeg(im, root / "images" / f"{i}.jpg")
        image = np.array([f"{i}.jpg" for i in range(n)], dtype=h5py.string_dtype())
    with h5py.File(root / IAE_FILE, "w") as h5:
        h5["image"], h5["aes"], h5["emo"] = image, aes, emo
    write_scores(samples, root)
    return root
