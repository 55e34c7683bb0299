"""Training throughput and peak memory of every two-task architecture at the papers' scale, side by side.

    .venv/bin/python benchmarks/paper_scale.py            # CUDA: ResNet50, 224 px, batch 64, AMP, channels_last
    .venv/bin/python benchmarks/paper_scale.py --quick    # any machine: a smoke run in a couple of minutes

Measures images/s of one optimiser step (forward, the two task losses, backward, SGD update) for ``single``,
``share_split``, ``cross_stitch``, ``nddr``, ``afi`` (fixed weights and with gradient recalibration, paper 000
eqs. 7–8) and ``aenet`` (paper 003) on ResNet50, against a reference of two independent torchvision ResNet50s (one
per task) trained in the same step. Rounds are interleaved (every model once per round, the same order), each
model's ratio to the reference is taken per round, and the median with its range is printed next to the goals:
AFI-ResNet50 ≥ 0.9× and AENet ≥ 0.6× the reference's images/s. Inputs are random tensors already on the device,
so this measures the models, not the data pipeline (``benchmarks/data_pipeline.py`` does that).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over a few steps of each model alone on the device; on a
CPU the peak resident set (``resource.getrusage``) of a child process that builds the model and steps it, minus the
same child's peak before the model was built. On a CPU the defaults shrink to 64 px, batch 4 (or ``--quick``
settings) and AMP is off unless ``--amp-dtype bfloat16``; the output says so, and those numbers check the script,
not the goals.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from aelab.models import build_model
from aelab.tasks import get_task
from aelab.train import build_balancer, task_loss

TASKS = ("aesthetic", "emotion")
REFERENCE = "two ResNet50s"
CANDIDATES: dict[str, tuple[str, str]] = {
    "single": ("single", "fixed"),
    "share_split": ("share_split", "fixed"),
    "cross_stitch": ("cross_stitch", "fixed"),
    "nddr": ("nddr", "fixed"),
    "afi": ("afi", "fixed"),
    "afi + recalibration": ("afi", "recalibration"),
    "aenet": ("aenet", "fixed"),
}
"""Row name → (architecture, balancer)."""
GOALS = {"afi": 0.9, "afi + recalibration": 0.9, "aenet": 0.6}
WIDE = 0.25


class TwoResNet50s(nn.Module):
    """The reference: two independent torchvision ResNet50s, one per task, stepped together."""

    def __init__(self):
        super().__init__()
        self.nets = nn.ModuleDict({t: torchvision.models.resnet50(num_classes=_outputs(t)) for t in TASKS})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {t: net(images) for t, net in self.nets.items()}


def _outputs(task: str) -> int:
    classes = get_task(task).classes
    return 1 if get_task(task).kind in ("binary", "regression") else len(classes)


@dataclass
class Settings:
    device: torch.device
    size: int
    batch: int
    steps: int
    rounds: int
    amp: torch.dtype | None
    channels_last: bool


@dataclass
class Trainee:
    """A model, its balancer and optimiser, and one step of training on a fixed batch."""

    model: nn.Module
    balance: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler


def build(name: str, settings: Settings) -> Trainee:
    if name == REFERENCE:
        model: nn.Module = TwoResNet50s()
        balance: Callable = lambda losses: sum(losses.values())  # noqa: E731 (a one-line reference balancer)
    else:
        arch, balancing = CANDIDATES[name]
        model = build_model(arch, "resnet50", tasks=list(TASKS))
        balancer = build_balancer(balancing, list(TASKS))
        balancer.attach(model)
        balance = balancer
    model = model.to(settings.device)
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if isinstance(balance, nn.Module):
        balance = balance.to(settings.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=settings.amp == torch.float16)
    return Trainee(model, balance, optimizer, scaler)


def batch_of(settings: Settings) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(settings.batch, 3, settings.size, settings.size, generator=generator)
    targets = {"aesthetic": torch.randint(0, 2, (settings.batch,), generator=generator).float(),
               "emotion": torch.randint(0, 8, (settings.batch,), generator=generator)}
    if settings.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images.to(settings.device), {t: v.to(settings.device) for t, v in targets.items()}


def step(trainee: Trainee, images: torch.Tensor, targets: dict[str, torch.Tensor], settings: Settings) -> None:
    with torch.autocast(settings.device.type, dtype=settings.amp or torch.float32, enabled=settings.amp is not None):
        outputs = trainee.model(images)
        losses = {t: task_loss(t, outputs[t].float(), targets[t]) for t in TASKS}
    trainee.optimizer.zero_grad(set_to_none=True)
    trainee.scaler.scale(trainee.balance(losses)).backward()
    trainee.scaler.step(trainee.optimizer)
    trainee.scaler.update()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(trainee: Trainee, data, settings: Settings) -> float:
    synchronize(settings.device)
    start = time.perf_counter()
    for _ in range(settings.steps):
        step(trainee, *data, settings)
    synchronize(settings.device)
    return settings.steps * settings.batch / (time.perf_counter() - start)


# --------------------------------------------------------------------------------------------- memory
def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def memory_in_child(name: str, settings: Settings) -> float:
    """Peak resident bytes a fresh process adds by building ``name`` and stepping it twice (CPU)."""
    command = [sys.executable, __file__, "--memory-of", name, "--size", str(settings.size), "--batch",
               str(settings.batch), "--amp-dtype", "bfloat16" if settings.amp == torch.bfloat16 else "none",
               "--device", "cpu"] + ([] if settings.channels_last else ["--no-channels-last"])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"  (memory of {name} not measured: {done.stderr.strip().splitlines()[-1:]})")
        return float("nan")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["bytes"])


def memory_here(name: str, settings: Settings) -> float:
    """Peak bytes allocated on the CUDA device by ``name`` alone over two steps."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(settings.device)
    before = torch.cuda.memory_allocated(settings.device)
    trainee = build(name, settings)
    data = batch_of(settings)
    for _ in range(2):
        step(trainee, *data, settings)
    synchronize(settings.device)
    peak = torch.cuda.max_memory_allocated(settings.device) - before
    del trainee, data
    return float(peak)


def child_memory(name: str, settings: Settings) -> None:
    before = peak_rss_bytes()
    trainee = build(name, settings)
    data = batch_of(settings)
    for _ in range(2):
        step(trainee, *data, settings)
    print(json.dumps({"bytes": peak_rss_bytes() - before}))


# --------------------------------------------------------------------------------------------- report
def summary(ratios: list[float], goal: float | None) -> str:
    median, low, high = statistics.median(ratios), min(ratios), max(ratios)
    text = f"{median:5.2f}×  ({low:.2f}–{high:.2f})"
    if goal is not None:
        met = "met" if low >= goal else "not met" if high < goal else "met in some rounds only"
        text += f"  goal >= {goal}×: {met}"
    if high - low > WIDE * median:
        text += "  [spread too wide to conclude]"
    return text


def settings_from(args: argparse.Namespace) -> tuple[Settings, str]:
    device = torch.device(args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu")
    small = device.type == "cpu" or args.quick
    size = args.size or (64 if small else 224)
    batch = args.batch or (4 if small else 64)
    steps = args.steps or (2 if small else 10)
    rounds = args.rounds or (3 if small else 5)
    cuda_amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    amp_names = {"none": None, "bfloat16": torch.bfloat16, "float16": torch.float16,
                 "auto": cuda_amp if device.type == "cuda" else None}
    settings = Settings(device, size, batch, steps, rounds, amp_names[args.amp_dtype], args.channels_last)
    note = ""
    if size != 224 or batch != 64:
        note = (f"NOT the paper scale: {size} px, batch {batch} ({'a CPU' if device.type == 'cpu' else '--quick'}); "
                "these numbers check the script, not the goals")
    return settings, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings on any device (64 px, batch 4)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--size", type=int, help="image side (default 224 on CUDA, 64 on a CPU or with --quick)")
    parser.add_argument("--batch", type=int, help="batch size (default 64 on CUDA, 4 on a CPU or with --quick)")
    parser.add_argument("--steps", type=int, help="optimiser steps per model per round")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--amp-dtype", default="auto", choices=("auto", "none", "bfloat16", "float16"),
                        help="autocast dtype (auto, as the trainer: bfloat16 on CUDA where supported, else "
                             "float16 + GradScaler; off on a CPU)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    settings, note = settings_from(args)
    torch.manual_seed(0)
    if args.memory_of:
        torch.set_num_threads(1)
        child_memory(args.memory_of, settings)
        return
    if settings.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    names = [REFERENCE, *CANDIDATES]
    gpu = torch.cuda.get_device_name(settings.device) if settings.device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {gpu}, {torch.get_num_threads()} CPU thread(s); ResNet50, {settings.size} px, "
          f"batch {settings.batch}, AMP {settings.amp or 'off'}, channels_last {settings.channels_last}; "
          f"{settings.rounds} rounds × {settings.steps} steps")
    if note:
        print(note)
    memory: dict[str, float] = {}
    if not args.no_memory:
        measure = memory_here if settings.device.type == "cuda" else memory_in_child
        memory = {name: measure(name, settings) for name in names}
    trainees = {name: build(name, settings) for name in names}
    data = batch_of(settings)
    for trainee in trainees.values():  # warm-up (cuDNN algorithm search, allocator)
        images_per_second(trainee, data, settings)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(settings.rounds):
        for name, trainee in trainees.items():
            rates[name].append(images_per_second(trainee, data, settings))
    what = "peak CUDA memory" if settings.device.type == "cuda" else "peak RSS added"
    print(f"\n{'model':<22} {'images/s':>9} {what:>17}   ratio to {REFERENCE} per round: median (min–max)")
    for name in names:
        shown = f"{memory[name] / 2**30:13.2f} GiB" if name in memory else f"{'-':>17}"
        ratios = [a / b for a, b in zip(rates[name], rates[REFERENCE])]
        ratio = "reference" if name == REFERENCE else summary(ratios, GOALS.get(name))
        print(f"{name:<22} {statistics.median(rates[name]):9.1f} {shown}   {ratio}")


if __name__ == "__main__":
    main()
