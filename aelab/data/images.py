"""One image opener for training, evaluation and prediction: any file Pillow reads → an 8-bit RGB picture.

Pillow's own ``convert("RGB")`` is wrong for several modes: 16-bit greyscale (``I;16``, ``I``) and float
(``F``) images are clipped at 255, so a 16-bit photo becomes a saturated white square, and transparent pixels
keep whatever colour hides under them. :func:`to_rgb` fixes these:

- ``I;16`` (and its byte orders): scaled by the 16-bit range, 0..65535 → 0..255.
- ``I`` (how Pillow decodes 16-bit PGM/PPM): taken as 16-bit, 0..65535 → 0..255; an image with larger values is
  scaled by its maximum; negative values become 0.
- ``F``: the smallest of the ranges 0..1, 0..255, 0..65535 that holds its maximum → 0..255 (beyond that, scaled
  by the maximum); negative values and NaN become 0.
- Transparency (``RGBA``, ``LA``, ``PA``, ``RGBa``, a ``P`` palette or ``L``/``RGB`` image with a transparent
  colour): **(choice)** composited on a white background (:data:`BACKGROUND`), as a browser shows it on a page.
- ``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX``: Pillow's conversion, which is correct.

:func:`open_rgb` opens a file, refuses an image over Pillow's decompression-bomb limit
(:data:`PIL.Image.MAX_IMAGE_PIXELS`) with :class:`ImageTooLargeError` before decoding it, decodes it fully (so a
truncated file is reported, not padded) and converts it. Every failure is a :class:`DataFormatError` naming the
file.

:func:`read_rgb_tensor` and :func:`decode_rgb_batch` return the same pixels as a ``uint8`` tensor ``3×H×W``, decoding
baseline and progressive RGB or greyscale JPEGs with ``torchvision.io.decode_jpeg`` (libjpeg-turbo on the CPU, nvJPEG
in batches on a CUDA device) and everything else (other formats, CMYK/YCCK JPEGs, files torchvision refuses) with
:func:`open_rgb`. The header is read by Pillow first, so the size limit and the error messages are those of
:func:`open_rgb`. Neither path applies the EXIF orientation tag: pixels are returned as stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

try:  # deprecated in torchvision 0.29 in favour of TorchCodec; without it every image goes through Pillow
    from torchvision.io import ImageReadMode, decode_jpeg
except ImportError:  # pragma: no cover - depends on the installed torchvision
    ImageReadMode = decode_jpeg = None

from aelab.errors import DataFormatError

BACKGROUND = (255, 255, 255)
"""Colour that transparent pixels are composited on."""
STANDARD_RANGES = (1.0, 255.0, 65535.0)
"""Full-scale values tried, in order, for a float (``F``) image."""
SIXTEEN_BIT = 65535.0


class ImageTooLargeError(DataFormatError):
    """An image has more pixels than Pillow's decompression-bomb limit allows; the message says how to raise it."""

    def __init__(self, path: str | Path, pixels: int, limit: int, what: str = "image"):
        self.pixels, self.limit = pixels, limit
        super().__init__(
            path,
            f"{what} has {pixels} pixels, over Pillow's decompression-bomb limit PIL.Image.MAX_IMAGE_PIXELS = "
            f"{limit}; if the file is trusted, set PIL.Image.MAX_IMAGE_PIXELS = {pixels} (or None for no limit) "
            f"before reading",
        )


# --------------------------------------------------------------------------------------------- modes
def _sixteen_bit_scale(values: np.ndarray) -> float:
    return SIXTEEN_BIT


def _integer_scale(values: np.ndarray) -> float:
    return max(SIXTEEN_BIT, float(values.max(initial=0)))


def _float_scale(values: np.ndarray) -> float:
    top = float(values.max(initial=0))
    return next((r for r in STANDARD_RANGES if top <= r), top)


FULL_SCALE: dict[str, Callable[[np.ndarray], float]] = {
    "I;16": _sixteen_bit_scale,
    "I;16L": _sixteen_bit_scale,
    "I;16B": _sixteen_bit_scale,
    "I;16N": _sixteen_bit_scale,
    "I": _integer_scale,
    "F": _float_scale,
}
"""Modes with more than 8 bits per pixel → the value that maps to 255."""


def _to_eight_bit(image: Image.Image) -> Image.Image:
    """A greyscale ``L`` image from a 16-bit, 32-bit or float one, scaled by :data:`FULL_SCALE`."""
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    values = np.clip(values, 0.0, None)
    top = FULL_SCALE[image.mode](values) or 1.0
    return Image.fromarray(np.rint(values * (255.0 / top)).clip(0, 255).astype(np.uint8), "L")


def _has_transparency(image: Image.Image) -> bool:
    return "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB: high bit depths scaled by their range, transparency composited on white."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in FULL_SCALE:
        image = _to_eight_bit(image)
    if _has_transparency(image):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba).convert("RGB")
    return image.convert("RGB")


# --------------------------------------------------------------------------------------------- files
BOMB_SIZE = re.compile(r"\((\d+) pixels\)")


def _check_pixels(image: Image.Image, path: Path, what: str) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    pixels = image.size[0] * image.size[1]
    if limit is not None and pixels > limit:
        raise ImageTooLargeError(path, pixels, int(limit), what)


def _open(path: Path, what: str) -> Image.Image:
    """``Image.open`` (header only) with every failure turned into a DataFormatError naming the file."""
    try:
        image = Image.open(path)
    except FileNotFoundError:
        raise DataFormatError(path, f"{what} does not exist") from None
    except Image.DecompressionBombError as err:
        found = BOMB_SIZE.search(str(err))
        pixels = int(found.group(1)) if found else -1
        raise ImageTooLargeError(path, pixels, int(Image.MAX_IMAGE_PIXELS or 0), what) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataFormatError(path, f"{what} cannot be read: {err}") from None
    try:
        _check_pixels(image, path, what)
    except ImageTooLargeError:
        image.close()
        raise
    return image


def open_rgb(path: str | Path, what: str = "image") -> Image.Image:
    """Decode the image file at ``path`` fully and return it as 8-bit RGB (:func:`to_rgb`).

    A missing, unreadable or truncated file is a :class:`DataFormatError` naming it and ``what`` it is; an image
    over :data:`PIL.Image.MAX_IMAGE_PIXELS` is an :class:`ImageTooLargeError` (raised before decoding).
    """
    path = Path(path)
    with _open(path, what) as image:
        try:
            image.load()
        except Exception as err:  # Pillow's decoders raise many kinds (OSError, SyntaxError, struct.error, ...)
            raise DataFormatError(path, f"{what} cannot be decoded: {err}") from None
        try:
            return to_rgb(image)
        except ValueError as err:  # a mode Pillow reads but cannot convert (premultiplied "La")
            raise DataFormatError(path, f"{what} of mode {image.mode} cannot be converted to RGB: {err}") from None


def check_image(path: str | Path, decode: bool = False) -> None:
    """Raise what :func:`open_rgb` would for ``path``; reads only the header unless ``decode`` is true.

    With ``decode`` the file is first checked by Pillow's ``verify()`` (chunk checksums, end markers), then decoded
    in full: ``verify()`` alone passes a truncated JPEG, a full decode alone passes a PNG missing its end.
    """
    path = Path(path)
    with _open(path, "image") as image:
        if not decode:
            return
        try:
            image.verify()
        except Exception as err:  # as in open_rgb: many kinds for broken files
            raise DataFormatError(path, f"image cannot be decoded: {err}") from None
    open_rgb(path)


# --------------------------------------------------------------------------------------------- tensors
TORCHVISION_JPEG_MODES = frozenset({"RGB", "L"})
"""JPEG colour modes that ``decode_jpeg`` turns into the same RGB as :func:`open_rgb`; CMYK and YCCK go to Pillow."""


def rgb_tensor(image: Image.Image) -> torch.Tensor:
    """An 8-bit RGB PIL image as a ``uint8`` tensor ``3×H×W``."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _jpeg_data(path: Path, what: str) -> torch.Tensor | None:
    """The file's bytes when it is a JPEG that ``decode_jpeg`` decodes like Pillow; None for anything else.
    The header checks (missing, unreadable, over the pixel limit) are :func:`open_rgb`'s."""
    with _open(path, what) as image:
        if decode_jpeg is None or image.format != "JPEG" or image.mode not in TORCHVISION_JPEG_MODES:
            return None
    try:
        return torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    except OSError as err:
        raise DataFormatError(path, f"{what} cannot be read: {err.strerror or err}") from None


def read_rgb_tensor(path: str | Path, what: str = "image") -> torch.Tensor:
    """The image at ``path`` as a ``uint8`` tensor ``3×H×W``: the pixels of :func:`open_rgb`, JPEGs decoded by
    ``torchvision.io.decode_jpeg`` and the rest (or a JPEG it refuses: truncated, odd markers) by Pillow."""
    path = Path(path)
    data = _jpeg_data(path, what)
    if data is not None:
        try:
            return decode_jpeg(data, mode=ImageReadMode.RGB)
        except RuntimeError:  # truncated or unusual: Pillow decodes it or reports it
            pass
    return rgb_tensor(open_rgb(path, what))


def decode_rgb_batch(paths: list[Path], device: str | torch.device = "cpu", what: str = "image") -> list[torch.Tensor]:
    """:func:`read_rgb_tensor` for many files, the JPEGs in one ``decode_jpeg`` call on ``device`` (nvJPEG on a
    CUDA device); tensors are returned on ``device``. When the batched call fails, each file is decoded alone."""
    device = torch.device(device)
    paths = [Path(p) for p in paths]
    if device.type == "cpu":
        return [read_rgb_tensor(p, what) for p in paths]
    data = [_jpeg_data(p, what) for p in paths]
    jpegs = [i for i, d in enumerate(data) if d is not None]
    decoded: dict[int, torch.Tensor] = {}
    if jpegs:
        try:
            decoded = dict(zip(jpegs, decode_jpeg([data[i] for i in jpegs], mode=ImageReadMode.RGB, device=device)))
        except RuntimeError:
            decoded = {}
    return [decoded[i] if i in decoded else read_rgb_tensor(p, what).to(device) for i, p in enumerate(paths)]


__all__ = [
    "BACKGROUND", "ImageTooLargeError", "check_image", "decode_rgb_batch", "open_rgb", "read_rgb_tensor",
    "rgb_tensor", "to_rgb",
]
