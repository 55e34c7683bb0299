"""Images/s per CPU core of the training input pipeline on JPEGs of AVA's typical size, three ways side by side.

    .venv/bin/python benchmarks/data_pipeline.py [--n 200] [--rounds 7] [--size 224] [--workers 0]

1. Pillow decode + transforms: ``TaskDataset`` items from the JPEG files (``open_rgb``, then ``train_transform``:
   resize to 256², random 224 crop, flip, normalise), as training reads them without a cache;
2. torchvision decode + transforms: the same with ``torchvision.io.decode_jpeg`` (``read_rgb_tensor``) and the
   transform applied to the ``uint8`` tensor;
3. the decoded cache (``aelab cache``, 256² ``uint8`` memory-mapped): a random crop, a flip and the normalisation.

The JPEGs (``--width`` × ``--height``, default 500 × 375, quality 90, smooth colour fields with grain) are generated
in a temporary folder in the AVA layout. One round times each way once over every image, in the order 1, 2, 3; the
ratios to Pillow are taken per round and summarised by their median and range, so a slower or faster minute on a
shared machine affects all three alike. Torch runs one thread; with ``--workers K`` a DataLoader of K processes
reads the images and the rates are divided by K. Goal: the cache at least 3× Pillow's images/s per core.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from aelab.data import Sample, TaskDataset, read_dataset, train_transform, write_dataset
from aelab.data.cache import write_cache
from aelab.data.images import open_rgb, read_rgb_tensor

TASKS = ["aesthetic"]
GOAL = 3.0
WIDE = 0.25
"""A ratio whose range (max − min) exceeds this fraction of its median is too noisy to conclude from."""


class TorchvisionFile:
    """An image file decoded by ``read_rgb_tensor`` when ``TaskDataset`` asks for a tensor (Pillow otherwise)."""

    def __init__(self, path: Path):
        self.path = path

    def tensor(self) -> torch.Tensor:
        return read_rgb_tensor(self.path)

    def __call__(self) -> Image.Image:
        return open_rgb(self.path)


def photo_like(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A smooth random colour field with grain: JPEG-compresses and decodes like a photograph."""
    field = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    grain = rng.normal(0, 8, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(field, dtype=np.float64) + grain, 0, 255).astype(np.uint8))


def make_ava(root: Path, n: int, width: int, height: int) -> Path:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        score = float(rng.uniform(3, 8))
        samples.append(Sample(str(i + 1), {"aesthetic_score": score, "aesthetic": int(score > 5)},
                              photo_like(rng, width, height)))
    return write_dataset(samples, root, "ava")


def items_per_second(data: TaskDataset, workers: int) -> float:
    """Images/s per core reading every item of ``data`` once."""
    start = time.perf_counter()
    if workers == 0:
        for i in range(len(data)):
            data[i]
    else:
        for _ in DataLoader(data, batch_size=32, num_workers=workers):
            pass
    return len(data) / (time.perf_counter() - start) / max(workers, 1)


def summary(values: list[float]) -> str:
    low, high = min(values), max(values)
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [low, low, high]
    return f"median {statistics.median(values):5.2f}×  range {low:5.2f}–{high:5.2f}  IQR {quartiles[0]:.2f}–" \
           f"{quartiles[2]:.2f}"


def verdict(values: list[float], goal: float | None) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    if (high - low) > WIDE * median:
        return f"spread over {WIDE:.0%} of the median: too wide to conclude, rerun on a quiet machine"
    if goal is None:
        return ""
    if low >= goal:
        return f"goal >= {goal:g}×: met in every round"
    return f"goal >= {goal:g}×: not met" if high < goal else f"goal >= {goal:g}×: met in some rounds only"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="JPEGs per round (default 200)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", type=int, default=224, help="training crop (the cache is round(size·256/224))")
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader processes (0: this process)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    resize = round(args.size * 256 / 224)
    print(f"torch {torch.__version__}, 1 thread, {args.workers or 'no'} loader workers; {args.n} JPEGs of "
          f"{args.width}×{args.height}, {args.rounds} rounds; crop {args.size} from {resize}²")
    with tempfile.TemporaryDirectory() as folder:
        with contextlib.redirect_stderr(io.StringIO()):  # the set-up's progress bars stay out of the printed table
            root = make_ava(Path(folder) / "ava", args.n, args.width, args.height)
            size_kb = sum(p.stat().st_size for p in (root / "images").iterdir()) / args.n / 1024
            start = time.perf_counter()
            cache = write_cache("ava", root, resize, Path(folder) / "cache")
            built = args.n / (time.perf_counter() - start)
            files = read_dataset("ava", root)
            cached = read_dataset("ava", root, cache=cache)
        transform = train_transform(args.size, resize=resize)
        ways: dict[str, TaskDataset] = {
            "Pillow decode + transforms": TaskDataset(files, TASKS, transform),
            "torchvision decode + transforms": TaskDataset(
                [Sample(s.id, s.labels, TorchvisionFile(Path(s.image))) for s in files], TASKS, transform),
            "decoded cache": TaskDataset(cached, TASKS, transform),
        }
        for data in ways.values():  # warm-up: file and page caches, allocator
            items_per_second(data, args.workers)
        rates: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, data in ways.items():
                rates[name].append(items_per_second(data, args.workers))
    print(f"JPEGs average {size_kb:.0f} KiB; writing the cache ran at {built:.0f} images/s (once per data set)\n")
    pillow = rates["Pillow decode + transforms"]
    for name, values in rates.items():
        print(f"  {name:<33} {statistics.median(values):8.1f} images/s per core")
    print("\nper-round ratio to Pillow decode + transforms:")
    goals: dict[str, float | None] = {"torchvision decode + transforms": None, "decoded cache": GOAL}
    for name, goal in goals.items():
        ratios = [a / b for a, b in zip(rates[name], pillow)]
        print(f"  {name:<33} {summary(ratios)}  {verdict(ratios, goal)}".rstrip())


if __name__ == "__main__":
    main()
