"""SynthAE: a deterministic synthetic aesthetics + emotion data set with planted, known factors."""

from __future__ import annotations

import multiprocessing
import sys
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from aelab.data.sample import Sample
from aelab.data.synthetic.comments import make_comments
from aelab.data.synthetic.factors import draw_factors, factor_rng, labels_from_factors
from aelab.data.synthetic.render import render


_RENDERED: dict[tuple[int, int], dict[int, Image.Image]] = {}

CHUNKS_PER_WORKER = 4  # work items per process: enough to even out images of unequal cost


def fork_context() -> multiprocessing.context.BaseContext | None:
    """The "fork" start method where :meth:`SynthAE.prerender` uses processes: on Linux, outside daemon processes
    (which may not have children). Spawned processes would import the caller's script again, and macOS forks
    unsafely; None there."""
    if not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
        return None
    return multiprocessing.get_context("fork")


def _render_pixels(seed: int, size: int, indices: Sequence[int]) -> list[bytes]:
    """The RGB bytes of images ``indices`` of SynthAE ``(seed, size)`` (run in a worker process of
    :meth:`SynthAE.prerender`; bytes pickle smaller and faster than PIL images)."""
    return [render(draw_factors(seed, i), size, factor_rng(seed, i, 1)).tobytes() for i in indices]


def clip_box(box: list[float]) -> list[float]:
    """A normalised box clipped to the frame [0, 1]²."""
    return [float(np.clip(v, 0.0, 1.0)) for v in box]


class SynthAE(Dataset):
    """``n`` synthetic images of ``size`` pixels whose labels follow visual factors (docs/science.md §1, §6).

    Each emotion sets a recipe (hue family, saturation/brightness, shapes, smooth vs granular texture);
    aesthetic quality follows composition, colour harmony, sharpness, noise and valence, rated by ten
    simulated raters with the UAE protocol (10/7/4/1; high when the mean is above 5). Photographic
    effects set AVA style tags; comments describe the factors with some wrong remarks.

    Item ``i`` is a :class:`Sample` whose image is rendered on demand; the same ``(seed, i)`` always
    gives the same image, labels, factors and comments, whatever ``n`` is. ``cache=True`` keeps rendered
    images in memory (shared by all sets with the same seed and size in this process) for training.
    """

    def __init__(self, n: int, size: int = 64, seed: int = 0, cache: bool = False):
        if int(n) != n or n < 1:
            raise ValueError(f"SynthAE needs n >= 1 images, got n={n!r}")
        if int(size) != size or size < 16:
            raise ValueError(f"SynthAE needs size >= 16 pixels, got size={size!r}")
        self.n, self.size, self.seed = int(n), int(size), int(seed)
        # Rendering costs milliseconds an image, so training keeps them: one memo per (seed, size) shared by
        # every SynthAE of this process (comparing architectures renders each image once), n·size²·3 bytes.
        self._cache = _RENDERED.setdefault((self.seed, self.size), {}) if cache else None

    def __len__(self) -> int:
        return self.n

    def _check(self, index: int) -> int:
        if not -self.n <= index < self.n:
            raise IndexError(f"SynthAE index {index} out of range for {self.n} images")
        return index % self.n

    def factors(self, index: int) -> dict[str, Any]:
        """Ground truth of image ``index``: recipe, palette, composition, subject box (normalised x0, y0, x1, y1,
        clipped to the frame), effects, latent quality, raters' scores."""
        index = self._check(index)
        factors = draw_factors(self.seed, index)
        factors["subject_box"] = clip_box(factors["subject_box_unclipped"])
        return factors

    def labels(self, index: int) -> dict[str, Any]:
        """Canonical labels of image ``index`` (computed without rendering)."""
        factors = self.factors(index)
        labels = labels_from_factors(factors)
        labels["comments"] = make_comments(factors, factor_rng(self.seed, self._check(index), 2))
        return labels

    def render(self, index: int) -> Image.Image:
        """The RGB image of item ``index``."""
        index = self._check(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        image = render(draw_factors(self.seed, index), self.size, factor_rng(self.seed, index, 1))
        if self._cache is not None:
            self._cache[index] = image
        return image

    def prerender(self, indices: Iterable[int] | None = None, workers: int = 2) -> int:
        """Render images ``indices`` (default: all) into the memo now, in ``workers`` processes; returns how many
        were rendered. Rendering is pure Python and NumPy holding the interpreter lock, so threads would not
        overlap it; processes do, and each image still comes from its own ``(seed, index)`` stream, so the pixels
        are those :meth:`render` gives. Needs ``cache=True``. The processes are forked (:func:`fork_context`), so
        nothing is imported or run again in them; where forking is not offered (not Linux, or inside a daemon
        process such as a pool's worker) the images are left to be rendered on demand, as they are where a process
        fails (one warning line; what was rendered by then is kept)."""
        if self._cache is None:
            raise ValueError("SynthAE.prerender needs cache=True: without the memo the images would be thrown away")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"SynthAE.prerender workers: got {workers!r}, expected an integer >= 1")
        todo = sorted({self._check(int(i)) for i in (range(self.n) if indices is None else indices)} - set(self._cache))
        workers = min(workers, len(todo))
        if workers <= 1:
            for index in todo:
                self.render(index)
            return len(todo)
        context = fork_context()
        if context is None:
            return 0
        chunks = [todo[k::workers * CHUNKS_PER_WORKER] for k in range(workers * CHUNKS_PER_WORKER)]
        done = 0
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        try:  # each chunk is stored as it arrives: the memo never holds an image twice
            for chunk, pixels in zip(chunks, pool.map(_render_pixels, [self.seed] * len(chunks),
                                                      [self.size] * len(chunks), chunks)):
                for index, data in zip(chunk, pixels):
                    self._cache[index] = Image.frombytes("RGB", (self.size, self.size), data)
                done += len(chunk)
        except (OSError, RuntimeError, ImportError) as error:  # BrokenProcessPool is a RuntimeError
            warnings.warn(f"SynthAE: rendering ahead in {workers} processes stopped ({error}); the other "
                          f"{len(todo) - done} images are rendered when first used", stacklevel=2)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: the chunks not started are dropped
        return done

    def __getitem__(self, index: int) -> Sample:
        index = self._check(int(index))
        factors = self.factors(index)
        labels = labels_from_factors(factors)
        labels["comments"] = make_comments(factors, factor_rng(self.seed, index, 2))
        return Sample(
            id=f"synthae-{self.seed}-{index}",
            labels=labels,
            image=partial(self.render, index),
            factors=factors,
            meta={"ratings": list(factors["ratings"])},
        )

    def label_array(self, key: str) -> np.ndarray:
        """One canonical label over the whole set (``emotion``, ``aesthetic``, ``style`` …), without rendering."""
        return np.array([labels_from_factors(draw_factors(self.seed, i))[key] for i in range(self.n)])

    def export(self, root: str | Path, layout: str = "synthae", **options: Any) -> Path:
        """Write the set to disk in a published layout (``fi``, ``uae``, ``iae``, ``twitter``, ``ava``,
        ``artphoto`` or aelab's own ``synthae``) so that :func:`aelab.data.read_dataset` reads it back."""
        from aelab.data.formats import write_dataset

        return write_dataset(list(self), root, layout, **options)
