"""Tiny fixture builders for the data-format tests: 8×8 images, text files and labelled samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from aelab.data.sample import Sample
from aelab.tasks import STYLES, high_aesthetic, is_positive


def image(color: tuple[int, int, int] = (200, 40, 40), size: int = 8) -> Image.Image:
    """An RGB image with a gradient (so lossless round trips are checked on varied pixels)."""
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[...] = color
    pixels[:, :, 2] = np.arange(size * size, dtype=np.uint8).reshape(size, size) * 3
    return Image.fromarray(pixels)


def write_image(path: Path, color: tuple[int, int, int] = (200, 40, 40)) -> Path:
    """Save an 8×8 image at ``path`` (format from the suffix), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image(color).save(path)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_images(folder: Path, names: list[str]) -> list[Path]:
    return [write_image(folder / name, (20 * i % 255, 100, 50)) for i, name in enumerate(names)]


def synth_samples(n: int = 10, seed: int = 0) -> list[Sample]:
    """Samples shaped like SynthAE's: every canonical label, ratings in meta, factors, in-memory images."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        ratings = rng.choice([1, 4, 7, 10], size=10).tolist()
        score = float(np.mean(ratings))
        style = [0.0] * len(STYLES)
        style[i % len(STYLES)] = 1.0
        if i % 2:
            style[(i + 3) % len(STYLES)] = 1.0
        labels = {
            "aesthetic": high_aesthetic(score), "aesthetic_score": score, "emotion": i % 8,
            "sentiment": int(is_positive(i % 8)), "style": style, "comments": [f"comment {i}", "so good"],
        }
        factors = {"box": (1, 2, 5, 6), "palette": np.arange(6, dtype=np.float32).reshape(2, 3) + i}
        samples.append(Sample(f"synth-{i:03d}", labels, image((30 * i % 255, 90, 160)), factors, {"ratings": ratings}))
    return samples


def by_id(samples: list[Sample]) -> dict[str, Sample]:
    return {s.id: s for s in samples}


def pick(samples: list[Sample], *keys: str) -> list[dict]:
    """The chosen labels of each sample, in order."""
    return [{k: s.labels[k] for k in keys if k in s.labels} for s in samples]
