"""Feature-visualisation speed, measured side by side in one run (no thresholds: it prints ratios).

    .venv/bin/python benchmarks/visualisation.py [--backbone googlenet] [--layer 4a] [--size 128] [--channels 8]
        [--baseline-steps 512] [--atlas-subset 16] [--full-atlas] [--threads N] [--weights imagenet]

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
                    quality: Quality, every: int) -> tuple[torch.Tensor, float, list[tuple[int, float]]]:
    """One channel the Lucid/Lucent way; returns the image, the optimisation seconds and the quality curve."""
    image = FourierImage([index], settings.size, seed=settings.seed)
    transforms = RandomTransforms([index], settings.steps, settings.seed)
    # maximize=True: the backward pass carries the gradient of the score, the sign Lucid's ReLU redirect expects
    optimizer = torch.optim.Adam(image.parameters(), lr=settings.lr, maximize=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    captured = {}
    hook = backbone.layer(layer).register_forward_hook(lambda m, i, o: captured.__setitem__("act", o))
    curve, seconds = [], 0.0
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
            seconds += time.perf_counter() - start
            if (step + 1) % every == 0:
                with torch.no_grad():
                    curve.append((step + 1, float(quality(image().detach(), [ch])[0])))
    finally:
        hook.remove()
    return image().detach(), seconds, curve


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
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} at start")
    backbone = build_backbone(args.backbone, weights=args.weights)
    if args.weights is None:
        calibrate_batchnorm(backbone, args.size)
        print(f"{args.backbone} with RANDOM weights (offline); batch-norm statistics re-estimated on smooth noise")
    backbone.eval()
    full = FullModel(backbone).eval()
    n_channels = int(layer_activations(backbone, torch.rand(1, 3, args.size, args.size), args.layer).shape[1])
    chans = sorted({round(k * (n_channels - 1) / max(1, args.channels - 1)) for k in range(args.channels)})
    quality = Quality(backbone, args.layer, args.size)
    lucid = lucid_defaults(size=args.size, steps=args.baseline_steps, seed=args.seed)
    print(f"layer {args.layer} ({n_channels} channels), {args.size} px, channels {chans}")

    # ---- baseline: one channel per call, full forward ---------------------------------------------------------
    base_images, base_seconds, base_curves = [], [], []
    for index, ch in enumerate(chans):
        image, seconds, curve = baseline_render(full, backbone, args.layer, ch, index, lucid, quality, args.every)
        base_images.append(image)
        base_seconds.append(seconds)
        base_curves.append(curve)
    base_images = torch.cat(base_images)
    target = float(quality(base_images, chans).mean())
    base_per_channel = statistics.mean(base_seconds)
    base_step = sum(base_seconds) / (len(chans) * lucid.steps)
    print(f"\nbaseline (Lucid defaults, {lucid.steps} steps, 1 channel/call, full forward): "
          f"{base_step * 1000:.1f} ms/step, {base_per_channel:.1f} s/channel, final mean activation {target:.3f}")

    # ---- (a) ours at equal steps with Lucid's settings --------------------------------------------------------
    objective = channel(args.layer, chans)
    start = time.perf_counter()
    same = render(backbone, objective, replace(lucid, batch_size=len(chans)))
    ours_equal = time.perf_counter() - start
    ours_step = ours_equal / (len(chans) * lucid.steps)
    same_quality = float(quality(same, chans).mean())
    print(f"(a) ours, same settings and steps, batch {len(chans)}, truncated at {args.layer}: "
          f"{ours_step * 1000:.1f} ms/image-step -> per-step speed-up {base_step / ours_step:.2f}x "
          f"(final mean activation {same_quality:.3f} vs {target:.3f}; mean |image difference| "
          f"{(same - base_images).abs().mean():.3f})")

    # ---- (b) time-to-quality with the default settings --------------------------------------------------------
    fast = RenderSettings(size=args.size, seed=args.seed, batch_size=len(chans))
    reached: dict[str, float] = {}
    curve: list[tuple[int, float]] = []
    quality.seconds = 0.0
    clock = time.perf_counter()

    def monitor(step: int, indices: torch.Tensor, images) -> None:
        if step % args.every == 0:
            value = float(quality(images(), chans).mean())
            curve.append((step, value))
            if value >= target and "seconds" not in reached:
                reached.update(seconds=time.perf_counter() - clock - quality.seconds, step=step)

    final = render(backbone, objective, fast, callback=monitor)
    ours_total = time.perf_counter() - clock - quality.seconds
    final_quality = float(quality(final, chans).mean())
    print(f"(b) ours, defaults (Adam lr {fast.resolved_lr}, {fast.schedule}, {fast.steps} steps, stages "
          f"{fast.stages}, plateau {fast.plateau}): {ours_total / len(chans):.2f} s/channel for all steps, final "
          f"mean activation {final_quality:.3f}")
    base_reached = next((s for s, v in _mean_curve(base_curves) if v >= target), lucid.steps)
    if reached:
        ours_per_channel = reached["seconds"] / len(chans)
        print(f"    reaches the baseline's {target:.3f} after {reached['step']} steps: {ours_per_channel:.2f} s/channel "
              f"vs baseline {base_per_channel:.1f} s/channel ({base_reached} steps) -> time-to-quality "
              f"{base_per_channel / ours_per_channel:.1f}x")
        quality_steps = reached["step"]
    else:
        print(f"    did NOT reach the baseline's {target:.3f} within {fast.steps} steps")
        ours_per_channel, quality_steps = None, fast.steps
    print("    mean activation by step, ours:     " + " ".join(f"{s}:{v:.2f}" for s, v in curve[3::4]))
    print("    mean activation by step, baseline: " + " ".join(f"{s}:{v:.2f}" for s, v in _mean_curve(base_curves)[7::8]))

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
            start = time.perf_counter()
            render(backbone, channel(args.layer, subset), atlas_settings)
            per_channel = (time.perf_counter() - start) / len(subset)
            print(f"atlas: all {n_channels} channels of {args.layer} at {args.size} px, {quality_steps} steps: "
                  f"~{per_channel * n_channels / 60:.1f} min (ESTIMATED from {len(subset)} channels rendered with the "
                  f"automatic batch size: {per_channel:.2f} s/channel); the baseline would take "
                  f"~{base_per_channel * n_channels / 60:.0f} min")
            hit_settings = RenderSettings(size=args.size, seed=args.seed, steps=1)  # same size, cheap to fill
            layer_atlas(backbone, args.layer, hit_settings, cache_dir=cache, progress=False)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            atlas = layer_atlas(backbone, args.layer, hit_settings, cache_dir=cache, progress=False)
            times.append(time.perf_counter() - start)
        print(f"atlas cache hit ({tuple(atlas.shape)}, hashing the model's state dict included): "
              f"{statistics.median(times) * 1000:.0f} ms" +
              ("" if args.full_atlas else " (cache filled with 1-step images of the same size)"))
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} at the end (other processes on the machine slow both sides alike)")
    if ours_per_channel is None:
        print("time-to-quality: not reached")


def _mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    return [(points[0][0], statistics.mean(v for _, v in points)) for points in zip(*curves)]


if __name__ == "__main__":
    main()
