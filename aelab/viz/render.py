"""Activation maximisation, many objectives per batch, the model run only up to the probed layer (METHODS.md §6).

``render(model, objective, settings)`` optimises one image per image of ``objective`` (one per channel for
``channel(layer, channels)``) and returns them (N, 3, size, size) in [0, 1], in objective order:

* the model runs **only up to** ``objective.layer`` (:func:`aelab.viz.probe.truncated`), in eval mode, with its
  input normalisation applied; its parameters are frozen for the call (no weight gradients are computed or
  accumulated) and its mode and ``requires_grad`` flags are restored afterwards;
* images are optimised in batches (``batch_size``; None picks one from the memory a single image needs); each
  image's initial values and random transforms come from generators seeded by ``(seed, index)``, its loss is its
  own score (the batch loss is the *sum*), and the optimiser is element-wise, so an image comes out the same
  (up to floating-point summation order) whether rendered alone or in any batch;
* parameterisation and transforms: :mod:`aelab.viz.parameterization`, :mod:`aelab.viz.robustness`.

How it is fast (``benchmarks/visualisation.py`` measures it against Lucid's one-channel, full-forward loop):
batching, truncation, frozen weights and channels-last input (oneDNN's fast convolution layout on CPU; a model
that cannot take it gets the usual layout) make each image-step several times cheaper, and the
default step rule — Adam at a constant lr 0.3 instead of Lucid's 0.05 — reaches the activation Lucid reaches in
512 steps in about 160 steps; 192 steps by default. Optional, all per image (so batching never changes a
result), measured not to help on GoogLeNet 4a and therefore off by default:

* ``stages`` — coarse-to-fine: ``((0.5, 0.5), (1.0, 0.5))`` spends the first half of the steps at half the
  resolution (a quarter of the pixels), then upsamples the parameters (a Fourier image keeps its spectrum exactly,
  Adam's moments move with it) and finishes at full size; the network sees objects at half scale meanwhile, and
  those steps bought less than their cost;
* ``schedule="cosine"`` decays the learning rate to ``lr · final_lr``; a constant rate climbed faster;
* ``plateau`` — an image whose smoothed score rose by less than ``plateau`` (relative) over ``plateau_window``
  steps of the last stage stops and leaves the batch; channel activations kept rising through 512 steps.

:func:`lucid_defaults` gives Lucid's plain procedure (512 steps, constant Adam lr 0.05, one resolution, no early
stop) and :func:`paper_defaults` paper 004's (pixel ascent, α = 0.05, no transforms) for comparisons.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from tqdm.auto import tqdm

from aelab.viz.objectives import Objective, channel
from aelab.viz.parameterization import PARAMETERIZATIONS, FourierImage, PixelImage
from aelab.viz.probe import LayerProbe, check_layer, layer_activations
from aelab.viz.robustness import RandomTransforms, TransformSpec

OPTIMIZERS = ("auto", "adam", "ascent")
SCHEDULES = ("constant", "cosine")
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
Callback = Callable[[int, torch.Tensor, Callable[[], torch.Tensor]], None]
CPU_MAX_BATCH = 16  # on CPU larger batches gain nothing per image (measured on GoogLeNet 4a, 2 cores)
FAST_ADAM_LR = 0.3  # tuned on GoogLeNet 4a (benchmarks/visualisation.py); Lucid's is 0.05
PAPER_ALPHA = 0.05


@dataclass(frozen=True)
class RenderSettings:
    """How to render (METHODS.md §6). Every field is part of an atlas's cache key.

    steps, size: optimisation steps and final image side (px).
    parameterization: ``"fourier"`` (Lucid's readable default) or ``"pixel"`` (paper 004's raw pixels from N(0, 1)).
    optimizer: ``"adam"``, ``"ascent"`` (plain gradient ascent X ← X + lr·∂h/∂X, paper 004) or ``"auto"``
        (Adam for Fourier, ascent for pixels). lr: Adam's learning rate or the ascent's α; None: 0.3 for Adam
        (tuned; Lucid's 0.05 is in :func:`lucid_defaults`), 0.05 for ascent (paper 004).
    transforms: Lucid's transformation robustness (pad, jitter, scale, rotate, jitter; :mod:`.robustness`).
    seed: seeds every image's initial values and transform draws, per (seed, image index).
    batch_size: images optimised together; None: as many as fit in memory (on CPU at most 16).
    decorrelate: Fourier colour decorrelation. pixel_output: ``"sigmoid"`` or ``"clamp"`` (see PixelImage).
    stages: coarse-to-fine ``((resolution ratio, share of steps), ...)`` ending at ratio 1.
    schedule, final_lr: ``"constant"`` or ``"cosine"`` learning rate (decaying to ``lr · final_lr``).
    plateau, plateau_window: early stop per image (None: off; see the module docstring).
    relu_redirect_steps: Lucid's redirected ReLU gradient during the first steps (16, as Lucid; 0: off): a unit
        that no input pixel reaches yet (ReLU gradient all zero for the image) passes the gradients that would
        raise it, so channels dead on the grey start image wake up.
    """

    steps: int = 192
    size: int = 128
    parameterization: str = "fourier"
    optimizer: str = "auto"
    lr: float | None = None
    transforms: bool = True
    seed: int = 0
    batch_size: int | None = None
    decorrelate: bool = True
    pixel_output: str = "sigmoid"
    stages: tuple[tuple[float, float], ...] = ((1.0, 1.0),)
    schedule: str = "constant"
    final_lr: float = 0.1
    plateau: float | None = None
    plateau_window: int = 32
    relu_redirect_steps: int = 16

    def __post_init__(self):
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {list(PARAMETERIZATIONS)}, got {self.parameterization!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.steps < 1 or self.size < 8:
            raise ValueError(f"steps must be >= 1 and size >= 8, got steps={self.steps}, size={self.size}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be None or >= 1, got {self.batch_size}")
        stages = tuple((float(r), float(s)) for r, s in self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages or stages[-1][0] != 1.0 or any(not 0 < r <= 1 or s <= 0 for r, s in stages):
            raise ValueError("stages must be ((ratio, share), ...) with 0 < ratio <= 1, share > 0, the last ratio "
                             f"1.0; got {self.stages}")
        if self.plateau is not None and (self.plateau < 0 or self.plateau_window < 2):
            raise ValueError(f"plateau must be None or >= 0 with plateau_window >= 2, got {self.plateau}, "
                             f"{self.plateau_window}")

    @property
    def resolved_optimizer(self) -> str:
        if self.optimizer != "auto":
            return self.optimizer
        return "adam" if self.parameterization == "fourier" else "ascent"

    @property
    def resolved_lr(self) -> float:
        """``lr``, or by default 0.3 for Adam (see the module docstring) and paper 004's α = 0.05 for ascent."""
        if self.lr is not None:
            return self.lr
        return FAST_ADAM_LR if self.resolved_optimizer == "adam" else PAPER_ALPHA

    def stage_steps(self) -> list[tuple[int, int]]:
        """``[(side in px, steps), ...]`` of the coarse-to-fine stages; the steps add up to ``steps``."""
        total = sum(share for _, share in self.stages)
        plan, used = [], 0
        for k, (ratio, share) in enumerate(self.stages):
            n = self.steps - used if k == len(self.stages) - 1 else round(self.steps * share / total)
            used += n
            plan.append((max(8, round(self.size * ratio)), n))
        return [(side, n) for side, n in plan if n > 0]

    def key(self) -> dict:
        """The fields that change the images (``batch_size`` does not), resolved, for cache keys."""
        fields = asdict(self)
        fields.pop("batch_size")
        fields.update(optimizer=self.resolved_optimizer, lr=self.resolved_lr)
        fields["stages"] = [list(s) for s in self.stages]
        return fields


def lucid_defaults(**changes) -> RenderSettings:
    """Lucid's plain procedure: Fourier + decorrelation, standard transforms, Adam lr 0.05 constant, 512 steps,
    redirected ReLU gradients for the first 16 steps, one resolution, no early stop (``changes`` override fields,
    e.g. ``size``)."""
    return replace(RenderSettings(steps=512, lr=0.05, stages=((1.0, 1.0),), schedule="constant", plateau=None),
                   **changes)


def paper_defaults(**changes) -> RenderSettings:
    """Paper 004's procedure: raw pixels from N(0, 1), plain gradient ascent α = 0.05, no transforms, one
    resolution (224 px as in the paper; pass ``size`` for less)."""
    return replace(RenderSettings(size=224, parameterization="pixel", optimizer="ascent", lr=0.05, transforms=False,
                                  stages=((1.0, 1.0),), schedule="constant", relu_redirect_steps=0), **changes)


# ---- model handling ------------------------------------------------------------------------------------------


def model_device(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return torch.device("cpu") if tensor is None else tensor.device


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode with ``requires_grad=False`` on every parameter; both restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, mode in modes:
            m.training = mode


def _bytes_per_image(probe: LayerProbe, settings: RenderSettings, device: torch.device) -> int:
    """Memory one image needs in a step at full size: the tensors autograd saves for the backward pass."""
    side = settings.size
    if settings.transforms:
        side = TransformSpec().output_size(side)
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    x = torch.rand(1, 3, side, side, device=device, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        probe(x).sum()
    return 2 * saved + 3 * 4 * side * side * 8  # grads and temporaries ~ as much again; parameters and state


def auto_batch_size(probe: LayerProbe, settings: RenderSettings, device: torch.device, count: int) -> int:
    """Images per batch: on CUDA what fits in 40 % of the free memory, on CPU what fits in 2 GiB (at most
    ``CPU_MAX_BATCH``); never more than ``count``."""
    per_image = max(1, _bytes_per_image(probe, settings, device))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        fit = int(0.4 * free // per_image)
    else:
        budget = 2 * 1024 ** 3
        try:
            budget = min(budget, os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4)
        except (ValueError, OSError, AttributeError):
            pass
        fit = min(CPU_MAX_BATCH, int(budget // per_image))
    return max(1, min(count, fit))


# ---- one batch -----------------------------------------------------------------------------------------------


def _parameterization(settings: RenderSettings, indices: torch.Tensor, side: int) -> FourierImage | PixelImage:
    if settings.parameterization == "fourier":
        return FourierImage(indices.tolist(), side, seed=settings.seed, decorrelate=settings.decorrelate)
    return PixelImage(indices.tolist(), side, seed=settings.seed, output=settings.pixel_output)


def _learning_rate(settings: RenderSettings, step: int) -> float:
    lr = settings.resolved_lr
    if settings.schedule == "constant" or settings.steps == 1:
        return lr
    progress = step / (settings.steps - 1)
    return lr * (settings.final_lr + (1 - settings.final_lr) * 0.5 * (1 + math.cos(math.pi * progress)))


class _RedirectedReLU(torch.autograd.Function):
    """ReLU whose backward is Lucid's ``redirected_relu_grad``: where an image's ordinary ReLU gradient is all zero,
    let through the gradients that would raise negative inputs. The backward pass must carry the gradient of the
    score being *raised* (as ``render`` does; a loss ``-score`` would flip which gradients pass)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        relu_grad = torch.where(x > 0, grad, torch.zeros_like(grad))
        redirected = torch.where((x < 0) & (grad < 0), torch.zeros_like(grad), grad)
        if x.dim() < 2:
            return relu_grad
        alive = relu_grad.flatten(1).abs().amax(dim=1) > 0
        return torch.where(alive.view(-1, *([1] * (x.dim() - 1))), relu_grad, redirected)


_RELUS = {F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _RedirectReLUs(TorchFunctionMode):
    """Every ReLU called inside (``F.relu``, ``nn.ReLU``, ``torch.relu_``, in-place or not) becomes
    :class:`_RedirectedReLU` (its result is returned, not written in place)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELUS:
            return _RedirectedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))


class _Optimizer:
    """Element-wise Adam or plain ascent on a parameter tensor, updating any subset of rows (images); Adam keeps a
    step count per element so that coefficients added by an upsampling start their own bias correction."""

    def __init__(self, kind: str, values: torch.Tensor):
        self.kind = kind
        if kind == "adam":
            self.m, self.v, self.t = (torch.zeros_like(values) for _ in range(3))

    def step(self, values: torch.Tensor, grad: torch.Tensor, lr: float, rows: torch.Tensor | None) -> None:
        """Ascend: ``values[rows] += lr · direction(grad)`` (``rows`` None: all)."""
        if self.kind == "ascent":
            if rows is None:
                values.add_(grad, alpha=lr)
            else:
                values.index_add_(0, rows, grad, alpha=lr)
            return
        b1, b2 = ADAM_BETAS
        m, v, t = (self.m, self.v, self.t) if rows is None else (self.m[rows], self.v[rows], self.t[rows])
        m.mul_(b1).add_(grad, alpha=1 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        t.add_(1)
        update = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt_().add_(ADAM_EPS))
        if rows is None:
            values.add_(update, alpha=lr)
        else:
            self.m[rows], self.v[rows], self.t[rows] = m, v, t
            values.index_add_(0, rows, update, alpha=lr)

    def resize(self, image: FourierImage | PixelImage, side: int) -> None:
        if self.kind == "adam":
            self.m = image.resized_parameters(self.m, side)
            self.v = image.resized_parameters(self.v.sqrt(), side).square()
            self.t = image.resized_parameters(self.t, side, rescale=False)


def _channels_last_works(probe: LayerProbe, device: torch.device, side: int) -> bool:
    """Whether the model accepts channels-last input (a model calling ``.view`` on a feature map may not)."""
    try:
        with torch.no_grad():
            probe(torch.rand(1, 3, side, side, device=device).contiguous(memory_format=torch.channels_last))
    except RuntimeError:
        return False
    return True


def _render_batch(probe: LayerProbe, objective: Objective, indices: torch.Tensor, settings: RenderSettings,
                  device: torch.device, callback: Callback | None = None,
                  memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Images (B, 3, size, size) in [0, 1] for ``objective`` (its images are ``indices`` of the whole render)."""
    plan = settings.stage_steps()
    count = len(indices)
    transforms = RandomTransforms(indices.tolist(), settings.steps, settings.seed) if settings.transforms else None
    image = _parameterization(settings, indices, plan[0][0]).to(device)
    values = image.parameter.detach().clone()
    optimizer = _Optimizer(settings.resolved_optimizer, values)
    active = torch.ones(count, dtype=torch.bool)
    ema = torch.full((count,), float("nan"), dtype=torch.float64)
    reference = torch.full((count,), float("nan"), dtype=torch.float64)
    step = 0
    for stage, (side, n_steps) in enumerate(plan):
        if stage:
            values = image.resized_parameters(values, side)
            optimizer.resize(image, side)
            image = _parameterization(settings, indices[:0], side).to(device)
        ratio = side / settings.size
        last_stage = stage == len(plan) - 1
        for _ in range(n_steps):
            rows = None if bool(active.all()) else active.nonzero().squeeze(1)
            if rows is not None and not len(rows):
                break
            x = (values if rows is None else values[rows.to(device)]).requires_grad_(True)
            picture = image.render(x)
            if transforms is not None:
                picture = transforms(picture, step, rows=rows, ratio=ratio)
            picture = picture.contiguous(memory_format=memory_format)
            with _RedirectReLUs() if step < settings.relu_redirect_steps else contextlib.nullcontext():
                activation = probe(picture)
            scores = (objective if rows is None else objective.select(rows))(activation)
            (grad,) = torch.autograd.grad(scores.sum(), x)
            with torch.no_grad():
                optimizer.step(values, grad, _learning_rate(settings, step), None if rows is None else rows.to(device))
            if settings.plateau is not None and last_stage:
                _plateau_check(settings, scores.detach(), rows, active, ema, reference, step)
            step += 1
            if callback is not None:
                callback(step, indices, lambda: image.render(values).detach())
    with torch.no_grad():
        return image.render(values).float().cpu()


def _plateau_check(settings: RenderSettings, scores: torch.Tensor, rows: torch.Tensor | None, active: torch.Tensor,
                   ema: torch.Tensor, reference: torch.Tensor, step: int) -> None:
    """Smooth each image's score (EMA 0.9) and, every ``plateau_window`` steps, stop the images whose smoothed score
    rose by less than ``plateau`` × |score| since the last check."""
    index = torch.arange(len(active)) if rows is None else rows.cpu()
    values = scores.double().cpu()
    ema[index] = torch.where(torch.isnan(ema[index]), values, 0.9 * ema[index] + 0.1 * values)
    if (step + 1) % settings.plateau_window:
        return
    previous = reference[index]
    current = ema[index]
    stalled = ~torch.isnan(previous) & (current - previous < settings.plateau * previous.abs().clamp(min=1e-6))
    active[index[stalled]] = False
    reference[index] = current


# ---- entry points --------------------------------------------------------------------------------------------


def render(model: nn.Module, objective: Objective, settings: RenderSettings = RenderSettings(), *,
           progress: bool = False, indices: Sequence[int] | None = None,
           callback: Callback | None = None) -> torch.Tensor:
    """Images (N, 3, size, size) in [0, 1], one per image of ``objective``, in its order (see the module
    docstring). Runs on the model's device; deterministic under ``settings.seed`` (on CPU bit for bit).

    ``indices``: the seed index of each image (default ``0..N-1``, its position in the objective). Image ``i``
    starts from the draws of ``(seed, indices[i])``: ``render(model, objective[i], settings, indices=[i])``
    renders the same image as the whole objective does at position ``i``.

    ``callback(step, seed_indices, images)``, if given, is called after every optimisation step of every batch with
    the number of steps done, the batch's seed indices and a function returning its current images (at the
    current stage's resolution, without transforms): for monitoring and benchmarks.
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"render needs an aelab.viz.objectives.Objective, got {type(objective).__name__}")
    check_layer(model, objective.layer)
    device = model_device(model)
    probe = LayerProbe(model, objective.layer, normalize=True)
    count = objective.batch_size
    seeds = torch.arange(count) if indices is None else torch.as_tensor(list(indices), dtype=torch.long)
    if seeds.shape != (count,):
        raise ValueError(f"indices must give one seed index per image ({count}), got {seeds.numel()}")
    result = torch.empty(count, 3, settings.size, settings.size)
    with frozen(model):
        batch = settings.batch_size or auto_batch_size(probe, settings, device, count)
        fast = _channels_last_works(probe, device, settings.size)
        memory_format = torch.channels_last if fast else torch.contiguous_format
        with tqdm(total=count, desc=f"rendering {objective.layer}", unit="image", disable=not progress,
                  leave=False) as bar:
            for start in range(0, count, batch):
                rows = torch.arange(start, min(count, start + batch))
                result[rows] = _render_batch(probe, objective.select(rows), seeds[rows], settings, device, callback,
                                             memory_format)
                bar.update(len(rows))
    return result


def layer_channels(model: nn.Module, layer: str, size: int = 64) -> int:
    """Number of channels of probe layer ``layer`` (one probe of a grey ``size`` px image)."""
    check_layer(model, layer)
    device = model_device(model)
    with frozen(model):
        return int(layer_activations(model, torch.full((1, 3, size, size), 0.5, device=device), layer,
                                     normalize=True).shape[1])


def render_channels(model: nn.Module, layer: str, channels: Sequence[int] | None = None,
                    settings: RenderSettings = RenderSettings(), progress: bool = True) -> torch.Tensor:
    """Channel visualisations (N, 3, size, size) of ``layer``: all its channels by default, rendered in batches
    with a progress bar."""
    if channels is None:
        channels = range(layer_channels(model, layer, settings.size))
    return render(model, channel(layer, list(channels)), settings, progress=progress)
