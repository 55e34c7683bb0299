"""Draw a SynthAE image from its factors (numpy + PIL): background, texture, subject, photographic effects."""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SUPERSAMPLE_BELOW = 128  # images smaller than this are drawn at twice the size and downsampled (anti-aliasing)


def hsv(hue_degrees: float, saturation: float, value: float) -> np.ndarray:
    """An RGB colour in [0, 1] from hue in degrees, saturation and value."""
    return np.array(colorsys.hsv_to_rgb((hue_degrees % 360) / 360, np.clip(saturation, 0, 1), np.clip(value, 0, 1)))


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest") if sigma > 0 else image


def _gradient(side: int, top: np.ndarray, bottom: np.ndarray, angle: float) -> np.ndarray:
    """A smooth linear gradient between two colours along a direction."""
    coords = np.linspace(-1, 1, side)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    t = (np.cos(angle) * xx + np.sin(angle) * yy) / np.sqrt(2) * 0.5 + 0.5
    return top[None, None, :] * (1 - t[..., None]) + bottom[None, None, :] * t[..., None]


def shape_polygon(kind: str, box: list[float], side: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Pixel-space outline of a subject shape filling ``box`` (normalised x0, y0, x1, y1)."""
    cx, cy = (box[0] + box[2]) / 2 * side, (box[1] + box[3]) / 2 * side
    radius = (box[2] - box[0]) / 2 * side
    if kind == "circle":
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        radii = np.full_like(angles, radius)
    elif kind == "blob":  # rounded, irregular: a few low-frequency harmonics
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        radii = radius * (0.82 + sum(rng.uniform(0, 0.09) * np.cos(k * angles + rng.uniform(0, 6.3)) for k in (2, 3)))
    elif kind == "shard":  # jagged: spiky alternating radii
        count = int(rng.integers(7, 12))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = radius * np.where(np.arange(count) % 2 == 0, rng.uniform(0.8, 1.0, count), rng.uniform(0.25, 0.5, count))
    elif kind == "triangle":
        start = rng.uniform(0, 2 * np.pi)
        angles = start + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.normal(0, 0.15, 3)
        radii = np.full(3, radius)
    elif kind == "star":
        angles = rng.uniform(0, 6.3) + np.linspace(0, 2 * np.pi, 10, endpoint=False)
        radii = radius * np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    else:
        raise ValueError(f"unknown shape {kind!r}")
    return list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles)))


def _resize(plane: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of one float plane (PIL's float mode is much faster than scipy's zoom here)."""
    return np.asarray(Image.fromarray(plane, mode="F").resize((side, side), Image.BILINEAR))


def _paint(canvas: np.ndarray, mask_image: Image.Image, colour: np.ndarray | Image.Image) -> np.ndarray:
    """Paint ``colour`` (one RGB colour, or an RGB image of colours) where the mask is set."""
    mask = np.asarray(mask_image, dtype=np.float32)[..., None] / 255.0
    paint = np.asarray(colour, dtype=np.float32) / 255.0 if isinstance(colour, Image.Image) else colour[None, None, :]
    return canvas * (1 - mask) + paint * mask


def _background(f: dict[str, Any], side: int, rng: np.random.Generator) -> np.ndarray:
    effects = f["effects"]
    if "light_on_white" in effects:
        top, bottom = hsv(f["hue"], 0.04, 0.98), hsv(f["hue"], 0.08, 0.9)
    elif "silhouettes" in effects:  # a bright sky for a dark shape
        top, bottom = hsv(f["hue"], 0.55, 0.98), hsv(f["hue"] + 25, 0.75, 0.85)
    else:
        top = hsv(f["hue"], f["saturation"], f["brightness"])
        bottom = hsv(f["hue"] + rng.uniform(-12, 12), f["saturation"] * 0.8, f["brightness"] * 0.7)
    canvas = _gradient(side, top, bottom, rng.uniform(0, 2 * np.pi))
    if f["granularity"] > 0:  # granular texture: colour speckle with grains 1/64 of the side at any size
        speckle = rng.normal(0, f["granularity"], size=(3, 64, 64)).astype(np.float32)
        canvas = canvas + np.stack([_resize(channel, side) for channel in speckle], axis=2)
    canvas = _clutter(canvas, f, side, rng)
    if "vanishing_point" in effects:
        canvas = _vanishing_lines(canvas, f, side, rng)
    if "long_exposure" in effects:
        canvas = _light_trails(canvas, side, rng)
    if "shallow_dof" in effects:
        canvas = _blur(canvas, 3.0 * side / 64)
    return canvas


def _clutter(canvas: np.ndarray, f: dict[str, Any], side: int, rng: np.random.Generator) -> np.ndarray:
    """Disorder: short strokes in random, unrelated colours."""
    if f["clutter"] == 0:
        return canvas
    mask, colours = Image.new("L", (side, side), 0), Image.new("RGB", (side, side), 0)
    draw_mask, draw_colour = ImageDraw.Draw(mask), ImageDraw.Draw(colours)
    for _ in range(f["clutter"]):
        x, y = rng.uniform(0, side, 2)
        length, angle = rng.uniform(0.08, 0.25) * side, rng.uniform(0, np.pi)
        stroke = [(x, y), (x + length * np.cos(angle), y + length * np.sin(angle))]
        colour = hsv(rng.uniform(0, 360), rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.9))
        draw_mask.line(stroke, fill=255, width=max(1, side // 48))
        draw_colour.line(stroke, fill=tuple(int(c * 255) for c in colour), width=max(1, side // 48))
    return _paint(canvas, mask, colours)


def _vanishing_lines(canvas: np.ndarray, f: dict[str, Any], side: int, rng: np.random.Generator) -> np.ndarray:
    vx, vy = rng.uniform(0.3, 0.7) * side, rng.uniform(0.3, 0.55) * side
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    for angle in np.linspace(0.15, np.pi - 0.15, 7) + rng.normal(0, 0.04, 7):
        draw.line([(vx, vy), (vx + 2 * side * np.cos(angle), vy + 2 * side * np.sin(angle))], fill=255,
                  width=max(1, side // 40))
    return _paint(canvas, mask, hsv(f["hue"], 0.15, 0.95 if f["brightness"] < 0.6 else 0.25))


def _light_trails(canvas: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    xs = np.linspace(0, side, 32)
    for _ in range(int(rng.integers(3, 6))):
        base, amplitude, phase = rng.uniform(0.2, 0.9) * side, rng.uniform(0.03, 0.12) * side, rng.uniform(0, 6.3)
        ys = base + amplitude * np.sin(xs / side * 2 * np.pi + phase)
        draw.line(list(zip(xs, ys)), fill=255, width=max(1, side // 40))
    trails = ndimage.gaussian_filter(np.asarray(mask, dtype=np.float32) / 255.0, side / 128)
    return canvas * (1 - trails[..., None]) + np.array([1.0, 0.95, 0.8]) * trails[..., None]


def _subject_colour(f: dict[str, Any], hue: float) -> np.ndarray:
    effects = f["effects"]
    if "silhouettes" in effects:
        return np.array([0.03, 0.03, 0.04])
    if "light_on_white" in effects:
        return hsv(hue, 0.3, 0.95)
    if f["harmony"] == "monochrome":  # same hue, another value
        value = f["brightness"] * 0.55 if f["brightness"] > 0.5 else min(1.0, f["brightness"] + 0.35)
        return hsv(hue, f["saturation"], value)
    return hsv(hue, min(1.0, f["saturation"] + 0.1), min(1.0, f["brightness"] + 0.1))


def _subject(canvas: np.ndarray, f: dict[str, Any], side: int, rng: np.random.Generator) -> np.ndarray:
    hues = f["palette_hues"]
    layer = Image.new("L", (side, side), 0)
    ImageDraw.Draw(layer).polygon(shape_polygon(f["shape"], f["subject_box_unclipped"], side, rng), fill=255)
    companions = Image.new("L", (side, side), 0)
    for _ in range(f["companions"]):
        size = rng.uniform(0.07, 0.13)
        x, y = rng.uniform(0.05, 0.95 - size, 2)
        box = [x, y, x + size, y + size]
        ImageDraw.Draw(companions).polygon(shape_polygon(f["shape"], box, side, rng), fill=255)
    if "motion_blur" in f["effects"]:  # streak the moving subject horizontally
        length = max(3, side // 8)
        layer = Image.fromarray(ndimage.uniform_filter1d(np.asarray(layer), length, axis=1))
    canvas = _paint(canvas, companions, _subject_colour(f, hues[-1]))
    return _paint(canvas, layer, _subject_colour(f, hues[1]))


def _finish(image: np.ndarray, f: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Whole-image effects at output resolution: duotone, HDR, soft focus, focus blur, grain, negative."""
    side = image.shape[0]
    effects = f["effects"]
    if "duotones" in effects:
        luminance = image.mean(axis=2, keepdims=True)
        dark, light = hsv(f["palette_hues"][0], 0.8, 0.2), hsv(f["palette_hues"][-1], 0.5, 1.0)
        image = dark * (1 - luminance) + light * luminance
    if "hdr" in effects:
        image = image + 1.3 * (image - _blur(image, side / 24))
        grey = image.mean(axis=2, keepdims=True)
        image = grey + 1.4 * (image - grey)
    if "soft_focus" in effects:
        image = 0.5 * image + 0.5 * np.clip(_blur(image, side / 16) * 1.12, 0, 1)
    if f["blur"] > 0:
        image = _blur(image, f["blur"] * side / 64)
    if f["noise"] > 0:
        image = image + rng.normal(0, f["noise"], size=image.shape[:2])[..., None]
    image = np.clip(image, 0, 1)
    if "negative_image" in effects:
        image = 1 - image
    return image


def render(factors: dict[str, Any], size: int, rng: np.random.Generator) -> Image.Image:
    """Draw the RGB image of ``factors`` at ``size``×``size`` pixels; deterministic for a given ``rng`` state."""
    side = size * 2 if size < SUPERSAMPLE_BELOW else size
    canvas = np.clip(_background(factors, side, rng), 0, 1)
    canvas = np.clip(_subject(canvas, factors, side, rng), 0, 1)
    if side != size:  # 2×2 box downsample
        canvas = canvas.reshape(size, 2, size, 2, 3).mean(axis=(1, 3))
    image = _finish(canvas, factors, rng)
    return Image.fromarray((image * 255 + 0.5).astype(np.uint8))
