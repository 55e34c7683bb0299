"""Training speed, measured side by side in one run (no thresholds: it prints ratios).

    .venv/bin/python benchmarks/train_throughput.py [--backbone tiny] [--size 64] [--batch 64] [--steps 20]

1. images/s of ``aelab.train.fit`` vs a bare PyTorch loop on the same model, data and batches (target >= 0.95);
2. step time of each two-branch architecture relative to two independent backbones (``single``; target <= 1.15x
   for cross_stitch / nddr / afi);
3. step time of AFI with gradient recalibration relative to AFI with fixed weights (target <= 1.10x).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from aelab.models import build_model
from aelab.tasks import get_task
from aelab.train import TrainConfig, build_balancer, fit, task_loss
from aelab.train.data import build_datasets
from aelab.train.distributed import GlobalBatchSampler
from aelab.train.runs import read_metrics

TASKS = ["aesthetic", "emotion"]


def step_seconds(arch: str, backbone: str, size: int, batch: int, steps: int, balancing: str = "fixed") -> float:
    """Median seconds of one optimiser step (forward, losses, backward, update) on a fixed random batch."""
    torch.manual_seed(0)
    model = build_model(arch, backbone, tasks=TASKS)
    balancer = build_balancer(balancing, TASKS)
    balancer.attach(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(batch, 3, size, size)
    targets = {"aesthetic": torch.randint(0, 2, (batch,)).float(), "emotion": torch.randint(0, 8, (batch,))}
    mask = torch.ones(batch, dtype=torch.bool)
    times = []
    for step in range(steps + 3):
        start = time.perf_counter()
        outputs = model(images)
        losses = {t: task_loss(get_task(t), outputs[t], targets[t], mask) for t in TASKS}
        optimizer.zero_grad()
        balancer(losses).backward()
        optimizer.step()
        if step >= 3:  # warm-up steps excluded
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_loop_images_per_second(config: TrainConfig) -> float:
    """The same model, data, sampler and optimiser as the trainer, in the plainest loop; epochs after the first."""
    torch.manual_seed(config.seed)
    data = build_datasets(config)["train"]
    model = build_model(config.arch, config.backbone, tasks=config.tasks)
    optimizer = torch.optim.SGD(model.parameter_groups(config.lr), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    tasks = [get_task(t) for t in config.tasks]
    rates = []
    for epoch in range(config.epochs):
        sampler = GlobalBatchSampler(len(data), config.batch_size, config.seed, min_per_process=2)
        sampler.set_epoch(epoch)
        start, seen = time.perf_counter(), 0
        for batch in DataLoader(data, batch_sampler=sampler):
            outputs = model(batch["image"])
            loss = sum(w * task_loss(t, outputs[t.name], batch["targets"][t.name], batch["mask"][t.name])
                       for t, w in zip(tasks, (1.0, 0.25)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(batch["image"])
        if epoch > 0:
            rates.append(seen / (time.perf_counter() - start))
    return statistics.median(rates)


def trainer_images_per_second(config: TrainConfig) -> float:
    with tempfile.TemporaryDirectory() as output:
        run = fit(config.replace(output=output))
        rows = [r for r in read_metrics(run.folder) if r["split"] == "train" and r["epoch"] > 0]
        return statistics.median(r["images"] / r["seconds"] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, backbone {args.backbone} at {args.size} px, "
          f"batch {args.batch}")

    config = TrainConfig(arch="share_split", backbone=args.backbone, n_images=1200, image_size=args.size,
                         batch_size=args.batch, epochs=args.epochs, augment=False, grad_ratio_every=0, progress=False,
                         scheduler="none")
    bare = bare_loop_images_per_second(config)
    trainer = trainer_images_per_second(config)
    print(f"\n1. trainer {trainer:.1f} images/s, bare loop {bare:.1f} images/s: ratio {trainer / bare:.3f} "
          f"(target >= 0.95)")

    reference = step_seconds("single", args.backbone, args.size, args.batch, args.steps)
    print(f"\n2. step time relative to two independent backbones ('single', {reference * 1000:.1f} ms):")
    for arch in ("cross_stitch", "cross_branch", "nddr", "afi", "aenet"):
        seconds = step_seconds(arch, args.backbone, args.size, args.batch, args.steps)
        target = " (target <= 1.15)" if arch in ("cross_stitch", "nddr", "afi") else ""
        print(f"   {arch:<13} {seconds * 1000:8.1f} ms  {seconds / reference:.3f}x{target}")

    fixed = step_seconds("afi", args.backbone, args.size, args.batch, args.steps, "fixed")
    recalibrated = step_seconds("afi", args.backbone, args.size, args.batch, args.steps, "recalibration")
    print(f"\n3. AFI with recalibration {recalibrated * 1000:.1f} ms vs fixed {fixed * 1000:.1f} ms: "
          f"{recalibrated / fixed:.3f}x (target <= 1.10)")


if __name__ == "__main__":
    main()
