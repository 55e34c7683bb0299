"""Feature-visualisation speed, measured side by side in one run (no thresholds: it prints ratios).

    .venv/bin/python benchmarks/visualisation.py [--backbone googlenet] [--layer 4a] [--size 128] [--channels 8]
        [--baseline-steps 512] [--atlas-subset 16] [--full-atlas] [--variants] [--threads N] [--weights imagenet]

Same model, layer, final image size and channels for both sides:

* **baseline** — the way Lucid/Lucent render: one channel per call, the **full** model run forward (every block and
  a 1000-way classifier, the layer read by a forward hook), model parameters left trainable (their gradients are
  computed, as in Lucent), ``torch.optim.Adam`` with Lucid's defaults (:func:`aelab.viz.render.lucid_defaults`:
  Fourier + decorrelation, standard transforms, lr 0.05, 512 steps, redirected ReLU for 16 steps);
* **ours** — :func:`aelab.viz.render.render`: all channels in one batch, the model truncated at the layer and frozen.

Reported: (a) the per-step speed-up at equal steps (ours run with Lucid's settings), (b) time-to-quality: seconds per
channel until ours (default settings) reaches the baseline's final mean activation (quality is the channel's mean
activation on the untransformed 128 px image; evaluation time is excluded on both sides), the time to build the
whole layer atlas at that quality (estimated from a measured subset unless ``--full-atlas``), and the atlas
cache-hit time. Without ``--weights`` the backbone has random weights (offline) and its batch-norm statistics are
re-estimated on smooth random images (with the default statistics GoogLeNet's 4a activations are ~1e-7).

Times are given two ways: 'median' = the median step time × the steps (robust to other processes' bursts on a shared
machine; two OpenMP threads competing with another process can slow a step tenfold) and 'wall' = the measured sum.
``--variants`` also times the optional speed features (coarse-to-fine, cosine schedule, plateau stop).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from aelab.models.backbones import build_backbone
from aelab.viz.atlas import layer_atlas
from aelab.viz.objectives import channel
from aelab.viz.parameterization import FourierImage
from aelab.viz.probe import layer_activations
from aelab.viz.render import RenderSettings, _RedirectReLUs, lucid_defaults, render
from aelab.viz.robustness import RandomTransforms


def calibrate_batchnorm(model: nn.Module, size: int, seed: int = 1) -> None:
    """Batch-norm running statistics from smooth random images (a random-weight net's default ones vanish)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for side in (4, 8, 16, 32, 64, size):
            pixels = F.interpolate(torch.rand(8, 3, side, side, generator=generator), size=size, mode="bilinear")
            model((pixels - 0.45) / 0.225)
    model.eval()


class FullModel(nn.Module):
    """The backbone plus a 1000-way classifier: what a Lucid/Lucent user runs forward."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.out_channels, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x).mean(dim=(-2, -1)))


class Quality:
    """Mean activation of each image's channel on the untransformed image (evaluation time is accounted apart)."""

    def __init__(self, model: nn.Module, layer: str, size: int):
        self.model, self.layer, self.size = model, layer, size
        self.seconds = 0.0

    def __call__(self, images: torch.Tensor, channels: list[int]) -> torch.Tensor:
        start = time.perf_counter()
        if images.shape[-1] != self.size:
            images = F.interpolate(images, size=self.size, mode="bilinear", align_corners=False)
        act = layer_activations(self.model, images, self.layer, normalize=True)
        values = act[torch.arange(len(channels)), torch.tensor(channels)].mean(dim=(-2, -1))
        self.seconds += time.perf_counter() - start
        return values


def baseline_render(full: FullModel, backbone: nn.Module, layer: str, ch: int, index: int, settings: RenderSettings,
                    quality: Quality, every: int) -> tuple[torch.Tensor, list[float], list[tuple[int, float]]]:
    """One channel the Lucid/Lucent way; returns the image, each step's seconds and the quality curve."""
    image = FourierImage([index], settings.size, seed=settings.seed)
    transforms = RandomTransforms([index], settings.steps, settings.seed)
    # maximize=True: the backward pass carries the gradient of the score, the sign Lucid's ReLU redirect expects
    optimizer = torch.optim.Adam(image.parameters(), lr=settings.lr, maximize=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    captured = {}
    hook = backbone.layer(layer).register_forward_hook(lambda m, i, o: captured.__setitem__("act", o))
    curve, steps = [], []
    try:
        for step in range(settings.steps):
            start = time.perf_counter()
            optimizer.zero_grad()
            full.zero_grad(set_to_none=True)
            picture = transforms(image(), step)
            redirect = _RedirectReLUs() if step < settings.relu_redirect_steps else torch.enable_grad()
            with redirect:
                full((picture - mean) / std)
            captured["act"][0, ch].mean().backward()
            optimizer.step()
            steps.append(time.perf_counter() - start)
            if (step + 1) % every == 0:
                with torch.no_grad():
                    curve.append((step + 1, float(quality(image().detach(), [ch])[0])))
    finally:
        hook.remove()
    return image().detach(), steps, curve


def time_to_quality(backbone: nn.Module, objective, chans: list[int], settings: RenderSettings, quality: Quality,
                    target: float, every: int) -> dict:
    """Render with ``settings``, evaluating the mean activation every ``every`` steps (not timed). Returns each
    step's seconds (``steps``, for the whole batch), the curve, the final images and activation, and the step at
    which the activation first reached ``target``."""
    run: dict = {"curve": [], "steps": []}
    last = [time.perf_counter()]

    def monitor(step: int, indices: torch.Tensor, images) -> None:
        run["steps"].append(time.perf_counter() - last[0])
        if step % every == 0:
            value = float(quality(images(), chans).mean())
            run["curve"].append((step, value))
            if value >= target and "step" not in run:
                run["step"] = step
        last[0] = time.perf_counter()

    run["images"] = render(backbone, objective, settings, callback=monitor)
    run["final"] = float(quality(run["images"], chans).mean())
    return run


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    return [(points[0][0], statistics.mean(v for _, v in points)) for points in zip(*curves)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="googlenet")
    parser.add_argument("--layer", default="4a")
    parser.add_argument("--weights", default=None, help="None (random, offline) or 'imagenet' / a state dict path")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=8, help="channels rendered by both sides (evenly spaced)")
    parser.add_argument("--baseline-steps", type=int, default=512)
    parser.add_argument("--every", type=int, default=8, help="quality is evaluated every this many steps")
    parser.add_argument("--atlas-subset", type=int, default=16, help="channels timed to estimate the whole atlas")
    parser.add_argument("--full-atlas", action="store_true", help="build the whole atlas instead of estimating")
    parser.add_argument("--variants", action="store_true",
                        help="also time the optional speed features (coarse-to-fine, cosine, plateau stop)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print("times: 'median' = median step time x steps (robust to other processes' bursts), 'wall' = measured sum")
    backbone = build_backbone(args.backbone, weights=args.weights)
    if args.weights is None:
        calibrate_batchnorm(backbone, args.size)
        print(f"{args.backbone} with RANDOM weights (offline); batch-norm statistics re-estimated on smooth noise")
    backbone.eval()
    full = FullModel(backbone).eval()
    n_channels = int(layer_activations(backbone, torch.rand(1, 3, args.size, args.size), args.layer).shape[1])
    chans = sorted({round(i * (n_channels - 1) / max(1, args.channels - 1)) for i in range(args.channels)})
    k = len(chans)
    quality = Quality(backbone, args.layer, args.size)
    lucid = lucid_defaults(size=args.size, steps=args.baseline_steps, seed=args.seed)
    print(f"layer {args.layer} ({n_channels} channels), {args.size} px, channels {chans}")

    # ---- baseline: one channel per call, full forward ---------------------------------------------------------
    base_images, base_steps, base_curves = [], [], []
    for index, ch in enumerate(chans):
        image, steps, curve = baseline_render(full, backbone, args.layer, ch, index, lucid, quality, args.every)
        base_images.append(image)
        base_steps += steps
        base_curves.append(curve)
    base_images = torch.cat(base_images)
    target = float(quality(base_images, chans).mean())
    base_step = statistics.median(base_steps)
    base_channel = base_step * lucid.steps
    base_channel_wall = sum(base_steps) / k
    print(f"\nbaseline (Lucid defaults, {lucid.steps} steps, 1 channel/call, full forward): median {_ms(base_step)}/step;"
          f" {base_channel:.1f} s/channel (wall {base_channel_wall:.1f}); final mean activation {target:.3f}")

    # ---- (a) ours at equal steps with Lucid's settings --------------------------------------------------------
    objective = channel(args.layer, chans)
    same = time_to_quality(backbone, objective, chans, replace(lucid, batch_size=k), quality, target, lucid.steps)
    ours_step = statistics.median(same["steps"]) / k
    ours_step_wall = sum(same["steps"]) / (k * lucid.steps)
    print(f"(a) ours, same settings and steps, batch {k}, truncated at {args.layer}: median {_ms(ours_step)}/image-step"
          f" -> per-step speed-up {base_step / ours_step:.2f}x (wall {base_channel_wall / lucid.steps / ours_step_wall:.2f}x)"
          f"; final mean activation {same['final']:.3f} vs {target:.3f}, mean |image difference| "
          f"{(same['images'] - base_images).abs().mean():.3f} (same math; float rounding diverges over the steps)")

    # ---- (b) time-to-quality with the default settings --------------------------------------------------------
    fast = RenderSettings(size=args.size, seed=args.seed, batch_size=k)
    run = time_to_quality(backbone, objective, chans, fast, quality, target, args.every)
    print(f"(b) ours, defaults (Adam lr {fast.resolved_lr} {fast.schedule}, {fast.steps} steps, stages {fast.stages}, "
          f"plateau {fast.plateau}): final mean activation {run['final']:.3f} after {fast.steps} steps")
    base_reached = next((s for s, v in _mean_curve(base_curves) if v >= target), lucid.steps)
    quality_steps = run.get("step", fast.steps)
    if "step" in run:
        ours_channel = statistics.median(run["steps"]) * run["step"] / k
        ours_channel_wall = sum(run["steps"][:run["step"]]) / k
        print(f"    reaches the baseline's {target:.3f} after {run['step']} steps: {ours_channel:.2f} s/channel (wall "
              f"{ours_channel_wall:.2f}) vs baseline {base_channel:.1f} s/channel ({base_reached} steps) -> "
              f"time-to-quality {base_channel / ours_channel:.1f}x (wall {base_channel_wall / ours_channel_wall:.1f}x)")
    else:
        print(f"    did NOT reach the baseline's {target:.3f} within {fast.steps} steps")
    print("    mean activation by step, ours:     " + " ".join(f"{s}:{v:.2f}" for s, v in run["curve"][3::4]))
    print("    mean activation by step, baseline: " + " ".join(f"{s}:{v:.2f}" for s, v in _mean_curve(base_curves)[7::8]))
    if args.variants:
        variants = {
            "coarse-to-fine (0.5 res for half the steps)": replace(fast, stages=((0.5, 0.5), (1.0, 0.5))),
            "cosine schedule to 0.1 lr": replace(fast, schedule="cosine"),
            "plateau stop (1 % per 32 steps)": replace(fast, plateau=0.01, plateau_window=32),
        }
        for name, settings in variants.items():
            other = time_to_quality(backbone, objective, chans, settings, quality, target, args.every)
            if "step" in other:  # wall time: the steps differ in cost (resolution, active images)
                seconds = sum(other["steps"][:other["step"]]) / k
                when = (f"reaches it after {other['step']} steps, wall {seconds:.2f} s/channel -> "
                        f"{base_channel_wall / seconds:.1f}x (wall)")
            else:
                when = "does not reach it"
            print(f"    variant {name}: {when}; final {other['final']:.3f} after {settings.steps} steps")

    # ---- whole-layer atlas at that quality, and the cache hit -------------------------------------------------
    atlas_settings = RenderSettings(size=args.size, seed=args.seed, steps=quality_steps)
    with tempfile.TemporaryDirectory() as cache:
        if args.full_atlas:
            start = time.perf_counter()
            layer_atlas(backbone, args.layer, atlas_settings, cache_dir=cache, progress=True)
            built = time.perf_counter() - start
            print(f"atlas: all {n_channels} channels of {args.layer} at {args.size} px, {quality_steps} steps: "
                  f"built in {built / 60:.1f} min (measured)")
            hit_settings = atlas_settings
        else:
            subset = list(range(min(args.atlas_subset, n_channels)))
            timing = time_to_quality(backbone, channel(args.layer, subset), subset, atlas_settings, quality,
                                     float("inf"), 10 ** 9)
            per_channel = statistics.median(timing["steps"]) * quality_steps / len(subset)
            per_channel_wall = sum(timing["steps"]) / len(subset)
            print(f"atlas: all {n_channels} channels of {args.layer} at {args.size} px, {quality_steps} steps, automatic "
                  f"batch size: ~{per_channel * n_channels / 60:.1f} min (wall ~{per_channel_wall * n_channels / 60:.1f})"
                  f" ESTIMATED from {len(subset)} channels; the baseline: ~{base_channel * n_channels / 60:.0f} min")
            hit_settings = RenderSettings(size=args.size, seed=args.seed, steps=1)  # same size, cheap to fill
            layer_atlas(backbone, args.layer, hit_settings, cache_dir=cache, progress=False)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            atlas = layer_atlas(backbone, args.layer, hit_settings, cache_dir=cache, progress=False)
            times.append(time.perf_counter() - start)
        print(f"atlas cache hit ({tuple(atlas.shape)}, hashing the model's state dict included): median "
              f"{_ms(statistics.median(times))}" +
              ("" if args.full_atlas else " (cache filled with 1-step images of the same size)"))
    print(f"load average {os.getloadavg()[0]:.2f} at the end (other processes on the machine slow both sides)")


if __name__ == "__main__":
    main()
