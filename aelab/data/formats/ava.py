"""AVA layout with its style lists and AVA-Comments, docs/science.md §2.1.

- ``AVA.txt``: 15 integers per line — index, image id, votes for scores 1..10, semantic tags 1 and 2, challenge.
- ``images/<id>.jpg``; optional ``tags.txt`` (``1 Abstract``) and ``challenges.txt`` (``1396 100_Meters``).
- ``style_image_lists/``: ``styles.txt`` (``1 Complementary_Colors``), ``train.jpgl`` + ``train.lab`` (one style
  id 1..14 per image), ``test.jpgl`` + ``test.multilab`` (14 binary columns per image).
- AVA-Comments: one line per image, ``#``-separated: index, image id, comments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aelab.data.formats.common import (
    Origins,
    check_images,
    class_index,
    image_path,
    index_folder,
    parse_code,
    parse_int,
    progress,
    read_table,
    require_dir,
    require_file,
    save_jpeg,
    set_label,
)
from aelab.data.sample import Sample
from aelab.errors import DataFormatError, DatasetNotFoundError, UnknownNameError
from aelab.tasks import STYLES, high_aesthetic

SUBSETS: tuple[str, ...] = ("all", "style")
STYLE_DIR = "style_image_lists"
COMMENTS_FILE = "comments.txt"
"""Where :func:`write_ava` puts AVA-Comments and where :func:`read_ava` looks by default."""
SCORES = np.arange(1, 11)


def _names(path: Path) -> dict[int, str]:
    """``id name`` lines (tags.txt, challenges.txt, styles.txt) as a dict; {} when the file is absent."""
    if not path.exists():
        return {}
    return {parse_int(i, path, line, "id"): name.strip() for line, (i, name) in read_table(path, 2, maxsplit=1, meaning="id name")}


def _style_columns(folder: Path) -> list[int]:
    """STYLES index of each style id 1..14 (from ``styles.txt``; AVA's own order when it is absent)."""
    path = folder / "styles.txt"
    names = _names(path)
    if not names:
        return list(range(len(STYLES)))
    if sorted(names) != list(range(1, len(STYLES) + 1)):
        raise DataFormatError(path, f"expected style ids 1..{len(STYLES)}, found {sorted(names)}")
    return [class_index(names[i].replace(" ", "_"), STYLES, path, "style") for i in range(1, len(STYLES) + 1)]


def _read_styles(root: Path, required: bool) -> dict[int, dict]:
    """Image id → {"style": [14 floats], "style_split": train/test} from the style lists."""
    folder = root / STYLE_DIR
    if not folder.is_dir():
        if required:
            raise DatasetNotFoundError(f"ava: subset='style' needs the folder {folder} with the style lists")
        return {}
    columns = _style_columns(folder)
    table: dict[int, dict] = {}
    origins: Origins = {}
    for part, label_name in (("train", "train.lab"), ("test", "test.multilab")):
        ids_path, labels_path = folder / f"{part}.jpgl", folder / label_name
        if not ids_path.exists() and not labels_path.exists():
            continue
        require_file(folder, ids_path.name, "ava", f"image list of {labels_path.name}")
        require_file(folder, labels_path.name, "ava", f"style labels of {ids_path.name}")
        ids = [(line, parse_int(f[0], ids_path, line, "image id")) for line, f in read_table(ids_path, 1, meaning="image id")]
        width = 1 if part == "train" else len(STYLES)
        rows = list(read_table(labels_path, width, meaning="style id" if width == 1 else "14 binary style flags"))
        if len(rows) != len(ids):
            raise DataFormatError(labels_path, f"has {len(rows)} label lines but {ids_path} lists {len(ids)} images")
        for (_, image_id), (line, fields) in zip(ids, rows):
            style = [0.0] * len(STYLES)
            if part == "train":
                style[columns[parse_code(fields[0], len(STYLES), labels_path, line, "style id", first=1)]] = 1.0
            else:
                for column, flag in zip(columns, fields):
                    style[column] = float(parse_code(flag, 2, labels_path, line, "style flag"))
            set_label(table, image_id, "style", style, labels_path, line, origins)
            table[image_id]["style_split"] = part
    return table


def _read_comments(path: Path) -> dict[int, list[str]]:
    """AVA-Comments: image id → its non-empty comments."""
    comments: dict[int, list[str]] = {}
    for line, fields in read_table(path, sep="#", min_fields=2, meaning="index#image id#comments"):
        image_id = parse_int(fields[1].strip(), path, line, "image id")
        comments.setdefault(image_id, []).extend(c.strip() for c in fields[2:] if c.strip())
    return comments


def read_ava(
    root: str | Path,
    *,
    subset: str = "all",
    comments: str | Path | bool | None = None,
    strict: bool = False,
    verify: bool = False,
) -> list[Sample]:
    """Read AVA (docs/science.md §2.1): ``subset="all"`` (every AVA.txt image) or ``"style"`` (style-labelled images
    only).

    Labels: ``aesthetic_score`` (vote-weighted mean), ``aesthetic`` (mean > 5), ``style`` where the style lists
    know the image (train.lab one-hot, test.multilab as given) and ``comments`` from AVA-Comments.
    ``comments``: a path (relative paths are taken inside ``root``), ``None`` (default: ``root/comments.txt``
    when present) or ``False`` (none). ``meta``: ``votes``, ``tags``, ``challenge``, ``style_split`` and, when
    ``tags.txt``/``challenges.txt`` exist, ``tag_names``/``challenge_name``.
    **(choice)** With ``subset="style"`` an image listed for style but absent from AVA.txt still becomes a
    sample (style only); with ``"all"`` it is ignored. Label files are UTF-8 (a BOM allowed). An image repeated in
    AVA.txt or the style lists with the same values is read once; with other values it is a
    :class:`DataFormatError` naming both lines.
    """
    if subset not in SUBSETS:
        raise UnknownNameError("ava subset", subset, SUBSETS)
    root = require_dir(root, "ava", "AVA.txt and images/")
    ava_path = require_file(root, "AVA.txt", "ava", "label file")
    styles = _read_styles(root, required=subset == "style")
    tags, challenges = _names(root / "tags.txt"), _names(root / "challenges.txt")
    table: dict[int, dict] = {}
    rows: dict[int, tuple[int, list[int]]] = {}
    for line, fields in read_table(ava_path, 15, meaning="index, image id, 10 vote counts, 2 tags, challenge"):
        numbers = [parse_int(f, ava_path, line, "every AVA.txt field") for f in fields]
        image_id, votes = numbers[1], np.array(numbers[2:12])
        if image_id in rows:
            first_line, first = rows[image_id]
            if first[2:] == numbers[2:]:
                continue
            raise DataFormatError(
                ava_path, f"image {image_id} is listed twice with different votes, tags or challenge: "
                f"{' '.join(map(str, numbers[2:]))} here, {' '.join(map(str, first[2:]))} on line {first_line}",
                line=line,
            )
        rows[image_id] = (line, numbers)
        if votes.min() < 0 or votes.sum() == 0:
            raise DataFormatError(ava_path, f"image {image_id} has no votes (or negative counts): {votes.tolist()}", line=line)
        mean = float(votes @ SCORES / votes.sum())
        meta = {"votes": votes.tolist(), "tags": numbers[12:14], "challenge": numbers[14]}
        if tags:
            meta["tag_names"] = [tags.get(t, str(t)) for t in numbers[12:14] if t]
        if challenges:
            meta["challenge_name"] = challenges.get(numbers[14], str(numbers[14]))
        table[image_id] = {"labels": {"aesthetic_score": mean, "aesthetic": high_aesthetic(mean)}, "meta": meta}
    keys = list(table) if subset == "all" else sorted(styles, key=lambda i: (i not in table, i))
    if comments is not False:
        path = root / COMMENTS_FILE if comments in (None, True) else root / Path(comments)
        if comments not in (None, True) or path.exists():
            found = _read_comments(require_file(path.parent, path.name, "ava", "AVA-Comments file"))
            for key in keys:
                if key in found:
                    table.setdefault(key, {"labels": {}, "meta": {}})["labels"]["comments"] = found[key]
    images = root / "images"
    found_images = index_folder(images)
    samples = []
    for key in keys:
        entry = table.setdefault(key, {"labels": {}, "meta": {}})
        if key in styles:
            entry["labels"]["style"] = styles[key]["style"]
            entry["meta"]["style_split"] = styles[key]["style_split"]
        samples.append(Sample(str(key), entry["labels"], image_path(found_images, images, str(key)), meta=entry["meta"]))
    return check_images(samples, strict=strict, verify=verify)


# --------------------------------------------------------------------------------------------- writer
STYLE_NAMES: tuple[str, ...] = (
    "Complementary_Colors", "Duotones", "HDR", "Image_Grain", "Light_On_White", "Long_Exposure", "Macro",
    "Motion_Blur", "Negative_Image", "Rule_of_Thirds", "Shallow_DOF", "Silhouettes", "Soft_Focus", "Vanishing_Point",
)
"""The names of ``styles.txt`` as distributed, in :data:`aelab.tasks.STYLES` order."""
VOTES = 100
"""Votes in a histogram made up from a score alone."""


def votes_of(sample: Sample) -> np.ndarray:
    """The 10-bin vote histogram to write for a sample.

    From ``meta["votes"]``; else ``meta["ratings"]`` (each rating one vote); else a two-bin histogram of
    :data:`VOTES` votes whose mean is ``aesthetic_score`` to 0.01 (6 or 4 from ``aesthetic`` alone), keeping
    ``aesthetic`` (mean > 5) as labelled.
    """
    meta, labels = sample.meta, sample.labels
    if "votes" in meta:
        votes = np.asarray(meta["votes"], dtype=int)
    elif "ratings" in meta:
        ratings = np.rint(np.asarray(meta["ratings"], dtype=float)).astype(int)
        if ratings.size == 0 or ratings.min() < 1 or ratings.max() > 10:
            raise ValueError(f"sample {sample.id!r}: meta['ratings'] must be scores 1..10, got {meta['ratings']}")
        votes = np.bincount(ratings - 1, minlength=10)
    elif "aesthetic_score" in labels or "aesthetic" in labels:
        score = min(max(float(labels.get("aesthetic_score", 6.0 if labels.get("aesthetic") else 4.0)), 1.0), 10.0)
        low = min(int(score), 9)
        high_votes = round((score - low) * VOTES)
        if "aesthetic" in labels and high_aesthetic(low + high_votes / VOTES) != labels["aesthetic"]:
            if high_aesthetic(score) != labels["aesthetic"]:
                raise ValueError(f"sample {sample.id!r}: aesthetic {labels['aesthetic']} disagrees with score {score}")
            high_votes += 1  # a score just above 5 that rounded down to 5.00
        votes = np.zeros(10, dtype=int)
        votes[low - 1], votes[low] = VOTES - high_votes, high_votes
    else:
        raise ValueError(f"the ava layout needs votes, ratings or an aesthetic label; sample {sample.id!r} has none")
    if votes.shape != (10,) or votes.min() < 0 or votes.sum() == 0:
        raise ValueError(f"sample {sample.id!r}: a vote histogram needs 10 non-negative counts, got {votes.tolist()}")
    return votes


def _clean(comment: str) -> str:
    """A comment as one ``#``-free line (AVA-Comments cannot store ``#`` or line breaks)."""
    return " ".join(comment.replace("#", " ").split())


def write_ava(samples: Sequence[Sample], root: str | Path) -> Path:
    """Write AVA: ``AVA.txt``, ``images/<id>.jpg``, the style lists and ``comments.txt`` (AVA-Comments).

    **(choice)** Image ids are the sample ids when all are integers, else 1..n in order. Votes come from
    :func:`votes_of`; tags and challenge from ``meta`` (0 when absent). A sample with a one-hot ``style`` goes to
    ``train.jpgl``/``train.lab`` unless ``meta["style_split"] == "test"``; others to ``test.multilab``
    (flags rounded to 0/1). ``comments.txt`` is written when a sample has comments.
    """
    root = Path(root)
    (root / STYLE_DIR).mkdir(parents=True, exist_ok=True)
    numeric = all(s.id.isdigit() for s in samples) and len({int(s.id) for s in samples}) == len(samples)
    ids = [int(s.id) if numeric else i + 1 for i, s in enumerate(samples)]
    ava, comments = [], []
    style = {"train": ([], []), "test": ([], [])}
    for index, (sample, image_id) in progress(enumerate(zip(samples, ids), 1), len(samples), "writing ava"):
        save_jpeg(sample.load_image(), root / "images" / f"{image_id}.jpg")
        tags = [int(t) for t in sample.meta.get("tags", (0, 0))]
        numbers = [index, image_id, *votes_of(sample).tolist(), *tags, int(sample.meta.get("challenge", 0))]
        ava.append(" ".join(map(str, numbers)) + "\n")
        if "comments" in sample.labels:
            comments.append("#".join([str(index), str(image_id), *map(_clean, sample.labels["comments"])]) + "\n")
        if "style" in sample.labels:
            flags = [int(round(float(x))) for x in sample.labels["style"]]
            part = "train" if sum(flags) == 1 and sample.meta.get("style_split") != "test" else "test"
            style[part][0].append(f"{image_id}\n")
            style[part][1].append(f"{flags.index(1) + 1}\n" if part == "train" else " ".join(map(str, flags)) + "\n")
    (root / "AVA.txt").write_text("".join(ava), encoding="utf-8")
    folder = root / STYLE_DIR
    (folder / "styles.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(STYLE_NAMES, 1)), encoding="utf-8")
    for part, label_name in (("train", "train.lab"), ("test", "test.multilab")):
        (folder / f"{part}.jpgl").write_text("".join(style[part][0]), encoding="utf-8")
        (folder / label_name).write_text("".join(style[part][1]), encoding="utf-8")
    if comments:
        (root / COMMENTS_FILE).write_text("".join(comments), encoding="utf-8")
    return root
