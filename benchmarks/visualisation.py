"""Feature-visualisation benchmarks, each measured side by side in one run (no thresholds: it prints numbers).

    .venv/bin/python benchmarks/visualisation.py [--steps 24] [--channels 8] [--threads 1] ...
    <lucent venv>/bin/python benchmarks/visualisation.py --against-lucent [--channels 4] [--threads 1] ...

Both use GoogLeNet with random weights (offline) whose batch-norm statistics are re-estimated on smooth random images
(with the default statistics its 4a activations are ~1e-7), layer 4a, 128 px, channels evenly spaced over the layer.
``--model reference`` uses the shipped SynthAE reference run instead (aelab.reference_run()), probe layer
emotion.stage4 at the run's own input size (64 px), which Lucent then renders at that size too (no upsampling).

**Default: the renderer against its previous implementation.** The previous loop (a hand-written element-wise Adam
on a gathered parameter tensor, kept here only as the baseline) and :class:`aelab.viz.render.BatchRender`
(``torch.optim``) optimise the same channels from the same seeds with the same settings, one batch each, and are
timed **interleaved**, step by step (previous, current; then current, previous; …). Reported: the median of the
paired per-step ratios current / previous with their interquartile range; when that range is wider than
``--max-spread`` of the median the run says it cannot conclude (another process slowed some steps).

**--against-lucent: readable images, measured against Lucent itself.** Lucent (PyPI ``torch-lucent``, not a
dependency) renders one channel per call with its defaults (Fourier + decorrelation, standard transforms, Adam lr
0.05, 512 steps, 128 px upsampled to 224 before the model); aelab renders the same channels with its defaults (or
``--set field=value``). For each: the channels' mean activation on the final untransformed 128 px image, roughness
and clipped share (:mod:`aelab.viz.readability`), seconds per channel; for aelab the same at the first step (checked
every ``--every``) where its mean activation reaches Lucent's, and the time ratio. The goal: there, roughness
≤ 1.1× Lucent's, clipped share ≤ Lucent's, reached ≥ 5× sooner. Where Lucent is not importable the comparison is
skipped with a message. A scratch environment for it (kornia ≥ 0.7 moved two functions Lucent 0.1.8 imports from
the top level; this script aliases them):

    python -m venv --system-site-packages /tmp/lucentenv
    .venv/bin/python -c "import site; print(site.getsitepackages()[0])" \\
        > /tmp/lucentenv/lib/python3.11/site-packages/aelab_venv.pth
    /tmp/lucentenv/bin/pip install --no-deps torch-lucent decorator kornia kornia_rs
    PYTHONPATH=. /tmp/lucentenv/bin/python benchmarks/visualisation.py --against-lucent

Threads are pinned (``--threads``, default 1); nothing prints progress bars.
"""

from __future__ import annotations

import argparse
import contextlib
import copy as copy_module
import os
import statistics
import time
from dataclasses import dataclass, fields, replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aelab.models.backbones import build_backbone
from aelab.viz.objectives import Objective, channel
from aelab.viz.parameterization import FourierImage
from aelab.viz.probe import LayerProbe, layer_activations
from aelab.viz.readability import clipped_share, roughness
from aelab.viz.relu_redirect import RedirectReLUs
from aelab.viz.render import BatchRender, RenderSettings, frozen, render
from aelab.viz.render_model import input_memory_format
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


def mean_activation(model: nn.Module, layer: str, images: torch.Tensor, chans: list[int]) -> torch.Tensor:
    """Each image's channel's mean activation on the untransformed image."""
    with torch.no_grad():
        act = layer_activations(model, images, layer, normalize=True)
    return act[torch.arange(len(chans)), torch.tensor(chans)].mean(dim=(-2, -1))


# ---- the previous implementation (baseline only) ------------------------------------------------------------


class PreviousBatch:
    """The renderer's previous batch loop for one resolution and a constant learning rate: element-wise Adam
    written by hand on a parameter tensor, gradients by ``torch.autograd.grad``."""

    def __init__(self, probe: LayerProbe, objective: Objective, indices: torch.Tensor, settings: RenderSettings,
                 memory_format: torch.memory_format):
        self.probe, self.objective, self.settings, self.memory_format = probe, objective, settings, memory_format
        self.image = FourierImage(indices.tolist(), settings.size, seed=settings.seed, decorrelate=settings.decorrelate)
        self.values = self.image.parameter.detach().clone()
        self.transforms = RandomTransforms(indices.tolist(), settings.steps, settings.seed)
        self.m, self.v, self.t = (torch.zeros_like(self.values) for _ in range(3))
        self.done = 0

    def step(self) -> None:
        x = self.values.requires_grad_(True)
        picture = self.transforms(self.image.render(x), self.done).contiguous(memory_format=self.memory_format)
        with RedirectReLUs() if self.done < self.settings.relu_redirect_steps else contextlib.nullcontext():
            scores = self.objective(self.probe(picture))
        (grad,) = torch.autograd.grad(scores.sum(), x)
        with torch.no_grad():
            b1, b2 = 0.9, 0.999
            self.m.mul_(b1).add_(grad, alpha=1 - b1)
            self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            self.t.add_(1)
            update = (self.m / (1 - b1 ** self.t)) / ((self.v / (1 - b2 ** self.t)).sqrt_().add_(1e-8))
            self.values.add_(update, alpha=self.settings.resolved_lr)
        self.done += 1

    def images(self) -> torch.Tensor:
        with torch.no_grad():
            return self.image.render(self.values)


def paired_ratios(first, second, steps: int, warmup: int) -> list[float]:
    """Per-step time ratios second / first, the two stepped alternately (the order flips every step)."""
    ratios = []
    for step in range(steps):
        seconds = {}
        for name, run in ((("first", first), ("second", second)) if step % 2 == 0 else
                          (("second", second), ("first", first))):
            start = time.perf_counter()
            run.step()
            seconds[name] = time.perf_counter() - start
        if step >= warmup:
            ratios.append(seconds["second"] / seconds["first"])
    return ratios


def spread_summary(ratios: list[float], max_spread: float) -> str:
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    width = (q3 - q1) / median
    text = f"median {median:.3f}x (interquartile {q1:.3f}-{q3:.3f}, {len(ratios)} pairs)"
    if width > max_spread:
        return text + f"; spread {width:.0%} of the median is wider than {max_spread:.0%}: cannot conclude, rerun " \
                      "on a quieter machine"
    verdict = "not slower (within 5 %)" if median <= 1.05 else f"SLOWER by {median - 1:.0%}"
    return text + f"; spread {width:.0%} of the median -> the current renderer is {verdict}"


def compare_previous(model: nn.Module, args, chans: list[int]) -> None:
    settings = RenderSettings(size=args.size, steps=args.steps + args.warmup, seed=args.seed, batch_size=len(chans))
    probe = LayerProbe(model, args.layer, normalize=True)
    objective = channel(args.layer, chans)
    indices = torch.arange(len(chans))
    with frozen(model):
        layout = input_memory_format(probe, torch.device("cpu"), args.size)
        previous = PreviousBatch(probe, objective, indices, settings, layout)
        current = BatchRender(probe, objective, indices, settings, torch.device("cpu"), layout)
        ratios = paired_ratios(previous, current, settings.steps, args.warmup)
    print(f"\nper-step time, current (torch.optim) / previous (hand-written Adam), batch {len(chans)}, "
          f"{settings.steps} steps interleaved, first {args.warmup} not counted:\n    "
          + spread_summary(ratios, args.max_spread))
    old, new = (mean_activation(model, args.layer, run.images(), chans).mean() for run in (previous, current))
    print(f"    mean activation after {settings.steps} steps: previous {old:.3f}, current {new:.3f} (same math; float "
          "rounding diverges over the steps)")


# ---- against Lucent ------------------------------------------------------------------------------------------


def import_lucent():
    """Lucent's render module, or None with the reason printed."""
    try:
        import kornia
        import kornia.geometry.transform as geometry
        for name in ("get_rotation_matrix2d", "warp_affine"):
            if not hasattr(kornia, name):
                setattr(kornia, name, getattr(geometry, name))
        from lucent.optvis import param, render as lucent_render
    except ImportError as error:
        print(f"--against-lucent skipped: Lucent is not importable here ({error}); see the commands at the top of "
              "benchmarks/visualisation.py")
        return None
    return lucent_render, param


def readability_row(name: str, images: torch.Tensor, activation: torch.Tensor, seconds: float) -> str:
    rough, clipped = float(roughness(images).mean()), float(clipped_share(images).mean())
    return (f"    {name:<44} activation {float(activation.mean()):7.3f}  roughness {rough:.3f}  clipped {clipped:.3f}"
            f"  {seconds:7.2f} s/channel")


def lucent_images(model: nn.Module, args, chans: list[int], lucent) -> tuple[torch.Tensor, float]:
    """Lucent's image per channel (one call each, its defaults, 512 steps) and its seconds per channel."""
    lucent_render, param = lucent
    target = model.layer(args.layer)
    name = next(n for n, m in model.named_modules() if m is target).replace(".", "_")
    images, seconds = [], []
    for k, ch in enumerate(chans):
        torch.manual_seed(args.seed + k)
        copy = copy_module.deepcopy(model)  # Lucent leaves a forward hook on every module after each call
        start = time.perf_counter()
        out = lucent_render.render_vis(copy, f"{name}:{ch}", param_f=lambda: param.image(args.size),
                                       thresholds=(512,), progress=False, show_image=False,
                                       fixed_image_size=args.size if MODELS[args.model].lucent_at_own_size else None)
        seconds.append(time.perf_counter() - start)
        images.append(torch.from_numpy(np.asarray(out[-1])).permute(0, 3, 1, 2).float())
    return torch.cat(images), statistics.mean(seconds)


def aelab_until(model: nn.Module, args, chans: list[int], settings: RenderSettings, target: float) -> dict:
    """aelab's render with ``settings``, evaluated every ``--every`` steps (evaluation not timed): the images,
    activation and seconds when the mean activation first reaches ``target``, and at the end."""
    run: dict = {"seconds": 0.0}
    last = [time.perf_counter()]

    def monitor(step: int, indices: torch.Tensor, images) -> None:
        run["seconds"] += time.perf_counter() - last[0]
        if step % args.every == 0 and "reached" not in run:
            current = images().float().cpu()
            activation = mean_activation(model, args.layer, current, chans)
            if float(activation.mean()) >= target:
                run["reached"] = (step, current, activation, run["seconds"])
        last[0] = time.perf_counter()

    run["images"] = render(model, channel(args.layer, chans), settings, callback=monitor)
    run["activation"] = mean_activation(model, args.layer, run["images"], chans)
    return run


def against_lucent(model: nn.Module, args, chans: list[int]) -> None:
    lucent = import_lucent()
    if lucent is None:
        return
    base, base_seconds = lucent_images(model, args, chans, lucent)
    base_act = mean_activation(model, args.layer, base, chans)
    target = float(base_act.mean())
    changes = {}
    for item in args.set:
        key, value = item.split("=", 1)
        kind = {f.name: f.type for f in fields(RenderSettings)}[key]
        changes[key] = (value.lower() == "true") if kind == "bool" else int(value) if "int" in kind else \
            float(value) if "float" in kind else value
    settings = replace(RenderSettings(size=args.size, seed=args.seed, batch_size=len(chans)), **changes)
    run = aelab_until(model, args, chans, settings, target)
    k = len(chans)
    print(f"\nreadability against Lucent, {k} channels of {args.layer} at {args.size} px "
          f"(aelab: {settings.resolved_optimizer} lr {settings.resolved_lr}, {settings.steps} steps, "
          f"transforms {settings.transforms}, decorrelate {settings.decorrelate}, schedule {settings.schedule}):")
    print(readability_row("Lucent, 512 steps, one channel per call", base, base_act, base_seconds))
    print(readability_row(f"aelab, all {settings.steps} steps", run["images"], run["activation"], run["seconds"] / k))
    if "reached" not in run:
        print(f"    aelab did NOT reach Lucent's activation {target:.3f} within {settings.steps} steps")
        return
    step, images, activation, seconds = run["reached"]
    print(readability_row(f"aelab, at step {step} (Lucent's activation)", images, activation, seconds / k))
    ratio = base_seconds / (seconds / k)
    rough = float(roughness(images).mean()) / float(roughness(base).mean())
    clipped = float(clipped_share(images).mean()) - float(clipped_share(base).mean())
    met = rough <= 1.1 and clipped <= 0 and ratio >= 5
    print(f"    at Lucent's activation: roughness {rough:.2f}x Lucent's (goal <= 1.1), clipped share {clipped:+.3f} "
          f"(goal <= 0), reached {ratio:.1f}x sooner (goal >= 5) -> joint criterion {'MET' if met else 'NOT met'}")


@dataclass(frozen=True)
class BenchModel:
    """A model to render from: ``build(args) -> (model, description)``, its default layer and size, and whether
    Lucent feeds it images at their own size (else Lucent's own rule: anything below 224 px is upsampled)."""

    build: Callable[[argparse.Namespace], tuple[nn.Module, str]]
    layer: str
    size: Callable[[], int]
    lucent_at_own_size: bool = False


def random_googlenet(args) -> tuple[nn.Module, str]:
    model = build_backbone("googlenet")
    calibrate_batchnorm(model, args.size)
    return model, "googlenet, random weights, batch-norm statistics re-estimated"


def reference_model(args) -> tuple[nn.Module, str]:
    from aelab.load import load_run
    from aelab.reference_model import reference_run

    loaded = load_run(reference_run(), device="cpu")
    return loaded.model.eval(), f"the SynthAE reference run ({loaded.config['arch']}, {loaded.config['backbone']})"


def reference_size() -> int:
    from aelab.reference_model import reference_recipe

    return reference_recipe().image_size


MODELS: dict[str, BenchModel] = {
    "googlenet": BenchModel(random_googlenet, "4a", lambda: 128),
    "reference": BenchModel(reference_model, "emotion.stage4", reference_size, lucent_at_own_size=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="googlenet")
    parser.add_argument("--layer", default=None, help="probe layer (default: the model's, 4a or emotion.stage4)")
    parser.add_argument("--size", type=int, default=None, help="image side (default: 128, or the run's own)")
    parser.add_argument("--channels", type=int, default=8, help="channels rendered (evenly spaced over the layer)")
    parser.add_argument("--steps", type=int, default=24, help="interleaved steps counted (previous vs current)")
    parser.add_argument("--warmup", type=int, default=2, help="interleaved steps run first and not counted")
    parser.add_argument("--max-spread", type=float, default=0.2,
                        help="interquartile range / median above which no conclusion is drawn")
    parser.add_argument("--against-lucent", action="store_true", help="compare readability and time with Lucent")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a RenderSettings field for aelab's side of --against-lucent (repeatable)")
    parser.add_argument("--every", type=int, default=4, help="--against-lucent: aelab evaluated every N steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bench_model = MODELS[args.model]
    args.layer = args.layer or bench_model.layer
    args.size = args.size or bench_model.size()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (pinned), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    model, description = bench_model.build(args)
    n_channels = int(layer_activations(model, torch.rand(1, 3, args.size, args.size), args.layer).shape[1])
    chans = sorted({round(i * (n_channels - 1) / max(1, args.channels - 1)) for i in range(args.channels)})
    print(f"{description}; layer {args.layer} ({n_channels} "
          f"channels), {args.size} px, channels {chans}")
    if args.against_lucent:
        against_lucent(model, args, chans)
    else:
        compare_previous(model, args, chans)
    print(f"load average {os.getloadavg()[0]:.2f} at the end (other processes on the machine slow both sides)")


if __name__ == "__main__":
    main()
