"""A data set decoded once: ``uint8`` pixels in one memory-mapped ``.npy`` array, ids and labels in a JSON index.

    aelab cache ROOT --kind ava --size 256                       # writes ROOT/.aelab-cache/ava-256px-resize/
    aelab train --data ava --root ROOT --data-options '{cache: ROOT/.aelab-cache/ava-256px-resize}'

A cache folder holds ``images.npy`` (``n × 3 × size × size``, ``uint8``, read with ``numpy.load(mmap_mode="r")``)
and ``index.json`` (the data set kind, root, reader options, size, geometry, and per image its id, row, labels and
meta). It costs ``size² × 3`` bytes per image: 1.97 GB per 10,000 images at 256 px (:func:`cache_bytes`).

Geometry (:data:`FITS`): ``"resize"`` (default) resizes every image to ``size × size`` ignoring its aspect ratio,
which is the first step of the patent preprocessing (CN109978074A: resize to 256×256, then a random 224 crop), so
a cache at ``size = round(image_size × 256 / 224)`` (256 for 224 px) turns :func:`~aelab.data.train_transform` into
a random crop and a flip per image, the resize being a no-op; ``"center_crop"`` resizes the short side to ``size``
and keeps the centre square. Pixels are decoded by :func:`~aelab.data.images.decode_rgb_batch` (torchvision's JPEG
decoder, Pillow for the rest) and resized with antialiasing, within one grey level of the Pillow pipeline.

A folder that holds another cache (other kind, root, options, size, geometry or images) is never overwritten; the
same cache again is reused. The array is written under a temporary name and the index last, so an interrupted
write leaves no folder that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as F

from aelab.data.formats import read_dataset
from aelab.data.formats.common import SHOWN_PATHS, progress
from aelab.data.images import decode_rgb_batch, read_rgb_tensor, rgb_tensor
from aelab.data.sample import Sample
from aelab.errors import AelabError, ConfigError, DataFormatError, UnknownNameError
from aelab.io import jsonable, refuse_symlink, write_json_atomic

FORMAT, VERSION = "aelab decoded cache", 1
IMAGES, INDEX = "images.npy", "index.json"
PARTIAL = IMAGES + ".partial"
MIN_SIZE = 8


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    return F.resize(image, [size, size], antialias=True)


def _center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    return F.center_crop(F.resize(image, size, antialias=True), [size, size])


FITS: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {"resize": _resize, "center_crop": _center_crop}
"""Geometry name → ``(uint8 3×H×W image, size) -> 3×size×size image``."""


def cache_bytes(n_images: int, size: int) -> int:
    """Bytes of the pixel array of ``n_images`` at ``size × size``: ``n × size² × 3``."""
    return n_images * size * size * 3


def default_cache_folder(root: str | Path, kind: str, size: int, fit: str = "resize") -> Path:
    """``ROOT/.aelab-cache/<kind>-<size>px-<fit>``: where ``aelab cache`` writes without ``--output``."""
    return Path(root).expanduser() / ".aelab-cache" / f"{kind}-{size}px-{fit}"


# --------------------------------------------------------------------------------------------- reading
class _ImageArray:
    """The pixel array, memory-mapped on first use; pickles as its path (DataLoader workers map it themselves)."""

    def __init__(self, path: Path):
        self.path, self._array = path, None

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __getstate__(self) -> dict:
        return {"path": self.path, "_array": None}


@dataclass(frozen=True, eq=False)
class CachedImage:
    """One row of a cache as a :class:`~aelab.data.sample.Sample` image source: calling it gives a PIL image,
    :meth:`tensor` the ``uint8 3×H×W`` tensor that :class:`~aelab.data.TaskDataset` passes to its transform."""

    source: _ImageArray
    row: int

    def tensor(self) -> torch.Tensor:
        return torch.from_numpy(np.array(self.source.array[self.row]))

    def __call__(self) -> Image.Image:
        return Image.fromarray(np.ascontiguousarray(self.source.array[self.row].transpose(1, 2, 0)), "RGB")


@dataclass(frozen=True)
class DecodedCache:
    """An opened cache folder: its index and the memory-mapped pixel array."""

    folder: Path
    index: dict[str, Any]
    images: _ImageArray

    def samples(self) -> list[Sample]:
        return [Sample(e["id"], e["labels"], CachedImage(self.images, e["row"]), meta=e["meta"])
                for e in self.index["entries"]]


def _read_index(folder: Path) -> dict[str, Any] | None:
    path = folder / INDEX
    if not path.exists():
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataFormatError(path, f"not a readable cache index ({err})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("version") != VERSION:
        raise DataFormatError(path, f"not an index of an {FORMAT} version {VERSION}")
    return index


def open_cache(folder: str | Path) -> DecodedCache:
    """Open a cache folder written by :func:`write_cache`; a missing or damaged one is a one-line error."""
    folder = Path(folder).expanduser()
    index = _read_index(folder) if folder.is_dir() else None
    if index is None:
        raise AelabError(f"{folder}: no decoded cache there (expected {INDEX} and {IMAGES}); write one with "
                         "`aelab cache ROOT --kind KIND --size SIZE`")
    images = _ImageArray(folder / IMAGES)
    expected = (index["rows"], 3, index["size"], index["size"])
    try:
        array = images.array
    except (OSError, ValueError) as err:
        raise DataFormatError(folder / IMAGES, f"cannot be memory-mapped ({err})") from None
    if array.dtype != np.uint8 or array.shape != expected:
        raise DataFormatError(folder / IMAGES, f"holds {array.dtype} {array.shape}, expected uint8 {expected}")
    return DecodedCache(folder, index, images)


def read_cached(kind: str, root: str | Path | None, *, cache: str | Path, **options: Any) -> list[Sample]:
    """The samples of the cache folder ``cache`` (``read_dataset(kind, root, cache=FOLDER, **options)``): images
    from the memory-mapped array, labels, ids and meta as the reader gave them. ``kind`` and the other reader
    ``options`` must be those the cache was written with; ``root`` is not read (the cache stands in for it)."""
    opened = open_cache(cache)
    index = opened.index
    if index["kind"] != kind:
        raise ConfigError("data_options.cache", str(cache), f"a cache of the {kind!r} data set; it holds "
                                                             f"{index['kind']!r}")
    if jsonable(options) != index["options"]:
        raise ConfigError("data_options", options, f"the reader options the cache was written with, "
                                                   f"{index['options']} (besides cache)")
    return opened.samples()


# --------------------------------------------------------------------------------------------- writing
def _decode(sample: Sample) -> torch.Tensor:
    if isinstance(sample.image, (str, os.PathLike)):
        return read_rgb_tensor(sample.image, what=f"image of sample {sample.id!r}")
    return rgb_tensor(sample.load_image())


class _Fitted(Dataset):
    """Sample ``i`` decoded and fitted: ``(i, tensor, None)``, or ``(i, None, reason)`` when it cannot be read."""

    def __init__(self, samples: Sequence[Sample], size: int, fit: str):
        self.samples, self.size, self.fit = samples, size, FITS[fit]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, self.fit(_decode(self.samples[i]), self.size), None
        except DataFormatError as err:
            return i, None, str(err)


def _as_list(batch: list) -> list:
    return batch


def _fitted_on_device(samples: Sequence[Sample], size: int, fit: str, device: torch.device,
                      batch_size: int) -> Iterator[tuple[int, torch.Tensor | None, str | None]]:
    """As :class:`_Fitted`, decoding and resizing each batch of files on ``device`` (nvJPEG on CUDA)."""
    one_by_one = _Fitted(samples, size, fit)
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        if not all(isinstance(s.image, (str, os.PathLike)) for s in chunk):
            yield from (one_by_one[i] for i in range(start, start + len(chunk)))
            continue
        try:
            images = decode_rgb_batch([Path(s.image) for s in chunk], device)
        except DataFormatError:  # one bad file: find it image by image
            yield from (one_by_one[i] for i in range(start, start + len(chunk)))
            continue
        for offset, image in enumerate(images):
            yield start + offset, FITS[fit](image, size).cpu(), None


def _check_parameters(size: int, fit: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ConfigError("size", size, f"an integer >= {MIN_SIZE} (the side of the cached images in pixels)")
    if fit not in FITS:
        raise UnknownNameError("cache geometry (fit)", fit, list(FITS))


def _describe(kind: str, root: Path, options: dict, size: int, fit: str) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "kind": kind, "root": str(root.resolve()),
            "options": jsonable(options), "size": size, "fit": fit}


def _existing(folder: Path, wanted: dict[str, Any], ids: list[str]) -> bool:
    """True when ``folder`` already holds this cache; False when it is free to write; else an error."""
    if folder.exists() and not folder.is_dir():
        raise AelabError(f"{folder}: is a file; expected a folder for the decoded cache (choose another output)")
    index = _read_index(folder) if folder.is_dir() else None
    if index is None:
        strangers = sorted({p.name for p in folder.iterdir()} - {IMAGES, PARTIAL}) if folder.is_dir() else []
        if strangers:
            raise AelabError(f"{folder}: holds other files ({', '.join(strangers[:SHOWN_PATHS])}); expected an empty "
                             "folder or a decoded cache (choose another output)")
        return False
    differences = [f"{key} {index.get(key)!r} there, {value!r} asked" for key, value in wanted.items()
                   if index.get(key) != value]
    listed = [e["id"] for e in index["entries"]] + [s["id"] for s in index.get("skipped", [])]
    if not differences and sorted(listed) != sorted(ids):
        differences.append(f"{len(listed)} images there, {len(ids)} now")
    if differences:
        raise AelabError(f"{folder}: holds a different decoded cache ({'; '.join(differences)}); it was left as it "
                         "is: remove it or choose another output folder")
    return True


def _prepare(folder: Path, needed: int) -> None:
    """Create ``folder`` and check it has room for ``needed`` bytes; a one-line error otherwise."""
    try:
        refuse_symlink(folder / IMAGES)
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as err:
        raise AelabError(f"{folder}: cannot write the cache there ({err.strerror or err}); choose another output "
                         "folder") from None
    if free < needed:
        raise AelabError(f"{folder}: the cache needs {needed / 1e9:.2f} GB and the disk has {free / 1e9:.2f} GB free")


def write_cache(
    kind: str,
    root: str | Path,
    size: int = 256,
    output: str | Path | None = None,
    *,
    fit: str = "resize",
    options: dict[str, Any] | None = None,
    device: str = "cpu",
    workers: int = 0,
    batch_size: int = 64,
) -> Path:
    """Decode the ``kind`` data set at ``root`` (read with the reader ``options``) once into a cache folder
    (default :func:`default_cache_folder`) at ``size × size`` with the geometry ``fit``; return the folder.

    ``device="cuda"`` decodes JPEG batches with nvJPEG and resizes on the GPU; on the CPU ``workers`` processes
    decode in parallel. An image that cannot be decoded is skipped with one warning and listed in the index.
    """
    _check_parameters(size, fit)
    options = dict(options or {})
    if "cache" in options:
        raise ConfigError("options", options, "reader options without 'cache' (a cache is written from the files)")
    samples = read_dataset(kind, root, **options)
    root = Path(root).expanduser()
    folder = Path(output).expanduser() if output is not None else default_cache_folder(root, kind, size, fit)
    wanted = _describe(kind, root, options, size, fit)
    if _existing(folder, wanted, [s.id for s in samples]):
        return folder
    _prepare(folder, cache_bytes(len(samples), size))
    torch_device = torch.device(device)
    try:
        pixels = np.lib.format.open_memmap(folder / PARTIAL, mode="w+", dtype=np.uint8,
                                           shape=(len(samples), 3, size, size))
    except OSError as err:
        raise AelabError(f"{folder}: cannot write the cache there ({err.strerror or err})") from None
    if torch_device.type == "cpu":
        loader = DataLoader(_Fitted(samples, size, fit), batch_size=batch_size, num_workers=workers,
                            collate_fn=_as_list)
        results = (item for batch in loader for item in batch)
    else:
        results = _fitted_on_device(samples, size, fit, torch_device, batch_size)
    skipped: dict[int, str] = {}
    for i, image, reason in progress(results, len(samples), "decoding into the cache"):
        if image is None:
            skipped[i] = reason
        else:
            pixels[i] = image.numpy()
    pixels.flush()
    del pixels
    os.replace(folder / PARTIAL, folder / IMAGES)
    entries = [{"id": s.id, "row": i, "labels": s.labels, "meta": s.meta} for i, s in enumerate(samples)
               if i not in skipped]
    lost = [{"id": samples[i].id, "reason": reason} for i, reason in skipped.items()]
    write_json_atomic({**wanted, "rows": len(samples), "entries": entries, "skipped": lost}, folder / INDEX)
    if lost:
        warnings.warn(f"{len(lost)} of {len(samples)} images could not be decoded and are not in the cache; first: "
                      f"{lost[0]['reason']}", stacklevel=2)
    return folder


__all__ = ["FITS", "CachedImage", "DecodedCache", "cache_bytes", "default_cache_folder", "open_cache", "read_cached",
           "write_cache"]
