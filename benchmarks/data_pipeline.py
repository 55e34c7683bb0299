"""SynthAE generation and DataLoader throughput at 64 and 224 px, side by side in one run.

    .venv/bin/python benchmarks/data_pipeline.py [--n 256] [--workers 0 2]

Prints images/s for: rendering alone, TaskDataset items (render + train transform), DataLoader batches with
0..N workers, and reading the same images back from a JPEG export; then ratios against rendering alone.
No thresholds: this measures, it does not judge.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from aelab.data import SynthAE, TaskDataset, read_dataset, train_transform


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure(size: int, n: int, workers: list[int]) -> dict[str, float]:
    data = SynthAE(n, size=size, seed=0)
    results = {"render": rate(n, timed(lambda: [data.render(i) for i in range(n)]))}
    items = TaskDataset(data, ["aesthetic", "emotion"], train_transform(size))
    results["dataset item"] = rate(n, timed(lambda: [items[i] for i in range(n)]))
    for count in workers:
        loader = DataLoader(items, batch_size=32, num_workers=count)
        results[f"loader {count} workers"] = rate(n, timed(lambda: [None for _ in loader]))
    with tempfile.TemporaryDirectory() as root:
        data.export(root, "synthae")
        samples = read_dataset("synthae", root)
        from_disk = TaskDataset(samples, ["aesthetic", "emotion"], train_transform(size))
        results["from disk (png export)"] = rate(n, timed(lambda: [from_disk[i] for i in range(n)]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256, help="images per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n} images per measurement")
    for size in (64, 224):
        results = measure(size, args.n, args.workers)
        print(f"\n{size} px")
        for name, value in results.items():
            print(f"  {name:<24} {value:9.1f} images/s   ({value / results['render']:.2f}× rendering alone)")


if __name__ == "__main__":
    main()
