"""Training speed, measured side by side and interleaved (no thresholds fail it: it prints paired ratios).

    .venv/bin/python benchmarks/train_throughput.py [--backbone tiny] [--size 64] [--batch 64] [--threads 1]
                                                    [--rounds 9] [--steps 5] [--epochs 2] [--images 1200]

1. images/s of ``aelab.train.fit`` vs a bare PyTorch loop on the same model, data and batches (target >= 0.95);
2. step time of each two-branch architecture relative to two independent backbones (``single``; target <= 1.15x
   for cross_stitch / nddr / afi);
3. step time of AFI with gradient recalibration relative to AFI with fixed weights (target <= 1.10x).

Every comparison is a series of rounds; in each round both sides run on the same batches one right after the other
(A, B, then B, A in the next round, so neither always goes first), and the round gives one ratio. A load that
comes and goes hits both sides of a round alike, so the ratios stay put where separate timings would not. Printed:
the median of the paired ratios and their spread (the interquartile range relative to the median); when the spread
is wider than ``--max-spread`` or the quartiles straddle the target, the line says the run cannot conclude. Threads
are pinned (``--threads``, intra-op and inter-op) before anything runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from aelab.models import build_model
from aelab.tasks import get_task
from aelab.train import TrainConfig, build_balancer, fit, task_loss
from aelab.train.data import build_datasets
from aelab.train.distributed import GlobalBatchSampler
from aelab.train.runs import read_metrics

TASKS = ["aesthetic", "emotion"]


# ---- paired ratios ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paired:
    """Ratios ``b / a`` of one comparison, one per round."""

    ratios: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.ratios) < 2:
            return self.ratios[0], self.ratios[0]
        q1, _, q3 = statistics.quantiles(self.ratios, n=4, method="inclusive")
        return q1, q3

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        q1, q3 = self.quartiles
        return (q3 - q1) / self.median

    def verdict(self, max_spread: float, at_most: float | None = None, at_least: float | None = None) -> str:
        q1, q3 = self.quartiles
        if self.spread > max_spread:
            return f"spread too wide to conclude (> {max_spread:.0%}): quiet the machine or raise --rounds"
        if at_most is not None:
            return "meets the target" if q3 <= at_most else "misses the target" if q1 > at_most else \
                "too close to the target to conclude"
        if at_least is not None:
            return "meets the target" if q1 >= at_least else "misses the target" if q3 < at_least else \
                "too close to the target to conclude"
        return ""

    def line(self, max_spread: float, at_most: float | None = None, at_least: float | None = None) -> str:
        """``median  (quartiles, spread, rounds)``, then the target and what the run can say about it."""
        q1, q3 = self.quartiles
        target = f"; target <= {at_most}" if at_most is not None else \
            f"; target >= {at_least}" if at_least is not None else ""
        verdict = self.verdict(max_spread, at_most, at_least)
        return (f"{self.median:.3f}x  (quartiles {q1:.3f}–{q3:.3f}, spread {self.spread:.1%}, {len(self.ratios)} "
                f"rounds){target}" + (f": {verdict}" if verdict else ""))


def interleaved(a: Callable[[], float], b: Callable[[], float], rounds: int) -> Paired:
    """``rounds`` ratios ``b() / a()``, each from one call of each, A first in even rounds and B first in odd ones
    (``a`` and ``b`` return a duration or a reciprocal rate: smaller is faster)."""
    ratios = []
    for index in range(rounds):
        if index % 2 == 0:
            first = a()
            ratios.append(b() / first)
        else:
            second = b()
            ratios.append(second / a())
    return Paired(ratios)


# ---- 1. the trainer vs a bare loop ------------------------------------------------------------------------------


def bare_loop_seconds_per_image(config: TrainConfig) -> float:
    """The same model, data, sampler and optimiser as the trainer, in the plainest loop; epochs after the first."""
    torch.manual_seed(config.seed)
    data = build_datasets(config)["train"]
    model = build_model(config.arch, config.backbone, tasks=config.tasks)
    optimizer = torch.optim.SGD(model.parameter_groups(config.lr), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    tasks = [get_task(t) for t in config.tasks]
    costs = []
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
            costs.append((time.perf_counter() - start) / seen)
    return statistics.median(costs)


def trainer_seconds_per_image(config: TrainConfig) -> float:
    """``fit`` on the same configuration, its own per-epoch timing of the epochs after the first."""
    with tempfile.TemporaryDirectory() as output:
        run = fit(config.replace(output=output))
        rows = [r for r in read_metrics(run.folder) if r["split"] == "train" and r["epoch"] > 0]
        return statistics.median(r["seconds"] / r["images"] for r in rows)


# ---- 2, 3. one optimiser step of each architecture ------------------------------------------------------------


class Stepper:
    """One model with its balancer and optimiser, stepping on a fixed batch."""

    def __init__(self, arch: str, backbone: str, images: torch.Tensor, targets: dict[str, torch.Tensor],
                 balancing: str = "fixed"):
        torch.manual_seed(0)
        self.model = build_model(arch, backbone, tasks=TASKS)
        self.balancer = build_balancer(balancing, TASKS)
        self.balancer.attach(self.model)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.images, self.targets = images, targets
        self.mask = torch.ones(len(images), dtype=torch.bool)

    def step(self) -> None:
        outputs = self.model(self.images)
        losses = {t: task_loss(get_task(t), outputs[t], self.targets[t], self.mask) for t in TASKS}
        self.optimizer.zero_grad()
        self.balancer(losses).backward()
        self.optimizer.step()

    def seconds(self, steps: int) -> float:
        """Seconds of ``steps`` steps."""
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return time.perf_counter() - start


def fixed_batch(size: int, batch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=generator)
    targets = {"aesthetic": torch.randint(0, 2, (batch,), generator=generator).float(),
               "emotion": torch.randint(0, 8, (batch,), generator=generator)}
    return images, targets


# ---- main -------------------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="intra-op and inter-op threads (default 1)")
    parser.add_argument("--rounds", type=int, default=9, help="paired rounds per comparison (default 9)")
    parser.add_argument("--steps", type=int, default=5, help="optimiser steps per side of a round (default 5)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run in 1.; the first is warm-up")
    parser.add_argument("--images", type=int, default=1200, help="training images in 1. (default 1200)")
    parser.add_argument("--max-spread", type=float, default=0.10,
                        help="widest interquartile range, relative to the median, to conclude from (default 0.10)")
    args = parser.parse_args(argv)
    for name in ("threads", "rounds", "steps", "images", "batch", "size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first is warm-up), got {args.epochs}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} "
          f"inter-op threads, backbone {args.backbone} at {args.size} px, batch {args.batch}, {args.rounds} "
          "interleaved rounds per comparison", flush=True)

    config = TrainConfig(arch="share_split", backbone=args.backbone, n_images=args.images, image_size=args.size,
                         batch_size=args.batch, epochs=args.epochs, augment=False, grad_ratio_every=0, progress=False,
                         scheduler="none")
    # seconds per image: bare / trainer = trainer's images/s over the bare loop's
    paired = interleaved(lambda: trainer_seconds_per_image(config), lambda: bare_loop_seconds_per_image(config),
                         args.rounds)
    print(f"\n1. trainer images/s relative to a bare loop: {paired.line(args.max_spread, at_least=0.95)}", flush=True)

    images, targets = fixed_batch(args.size, args.batch)
    reference = Stepper("single", args.backbone, images, targets)
    reference.seconds(3)  # warm-up
    print(f"\n2. step time relative to two independent backbones ('single', "
          f"{reference.seconds(args.steps) / args.steps * 1000:.1f} ms):", flush=True)
    for arch in ("cross_stitch", "cross_branch", "nddr", "afi", "aenet"):
        candidate = Stepper(arch, args.backbone, images, targets)
        candidate.seconds(3)
        paired = interleaved(lambda: reference.seconds(args.steps), lambda: candidate.seconds(args.steps),
                             args.rounds)
        target = {"at_most": 1.15} if arch in ("cross_stitch", "nddr", "afi") else {}
        print(f"   {arch:<13} {paired.line(args.max_spread, **target)}", flush=True)

    fixed = Stepper("afi", args.backbone, images, targets, "fixed")
    recalibrated = Stepper("afi", args.backbone, images, targets, "recalibration")
    fixed.seconds(3)
    recalibrated.seconds(3)
    paired = interleaved(lambda: fixed.seconds(args.steps), lambda: recalibrated.seconds(args.steps), args.rounds)
    print(f"\n3. AFI with recalibration relative to fixed weights: {paired.line(args.max_spread, at_most=1.10)}",
          flush=True)


if __name__ == "__main__":
    main()
