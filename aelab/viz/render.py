"""Activation maximisation, many objectives per batch, the model run only up to the probed layer (docs/science.md §6;
paper 004 eqs. 1–2; Olah et al. 2017 *Feature Visualization*).

``render(model, objective, settings)`` optimises one image per image of ``objective`` (one per channel for
``channel(layer, channels)``) and returns them (N, 3, size, size) in [0, 1], in objective order:

* the model runs **only up to** ``objective.layer`` (:func:`aelab.viz.probe.truncated`), in eval mode, with its
  input normalisation applied; its parameters are frozen for the call (no weight gradients are computed or
  accumulated) and its mode and ``requires_grad`` flags are restored afterwards (:mod:`.render_model`);
* images are optimised in batches (``batch_size``; None picks one from the memory a single image needs); each
  image's initial values and random transforms come from generators seeded by ``(seed, index)``, its loss is its
  own score (the batch loss is the *sum*) and the ``torch.optim`` step rule is element-wise
  (:mod:`.render_optim`), so an image comes out the same (up to floating-point summation order) whether rendered
  alone or in any batch;
* settings: :mod:`.render_settings`; parameterisations (a registry): :mod:`.parameterization`; starting points
  (a registry; the flat colour and speckle an objective prefers): :mod:`.start`; transforms: :mod:`.robustness`; Lucid's
  redirected ReLU for the first steps: :mod:`.relu_redirect`.

Batching, truncation, frozen weights and channels-last input make each image-step several times cheaper than
Lucid's one-channel, full-forward loop (``benchmarks/visualisation.py`` measures it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn
from tqdm.auto import tqdm

from aelab.errors import ConfigError
from aelab.viz.objectives import Objective, channel
from aelab.viz.parameterization import PARAMETERIZATIONS, FourierImage, PixelImage
from aelab.viz.probe import LayerProbe, check_layer, layer_activations
from aelab.viz.relu_redirect import RedirectReLUs
from aelab.viz.render_model import CPU_MAX_BATCH, auto_batch_size, frozen, input_memory_format, model_device
from aelab.viz.render_optim import OPTIMIZERS, SCHEDULES, StepRule
from aelab.viz.render_settings import RenderSettings, lucid_defaults, paper_defaults
from aelab.viz.robustness import RandomTransforms
from aelab.viz.start import STARTS

__all__ = ["CPU_MAX_BATCH", "OPTIMIZERS", "SCHEDULES", "BatchRender", "RenderSettings", "auto_batch_size", "frozen",
           "layer_channels", "lucid_defaults", "model_device", "objective_baseline", "objective_scores",
           "paper_defaults", "render", "render_channels"]

Callback = Callable[[int, torch.Tensor, Callable[[], torch.Tensor]], None]


class BatchRender:
    """One batch of images under optimisation: ``step()`` once per optimisation step, ``images()`` at any time.

    ``objective`` scores the batch's images; ``indices`` are their seed indices in the whole render.
    """

    def __init__(self, probe: LayerProbe, objective: Objective, indices: torch.Tensor, settings: RenderSettings,
                 device: torch.device, memory_format: torch.memory_format = torch.contiguous_format,
                 start: Callable[[FourierImage | PixelImage], None] | None = None):
        self.probe, self.objective, self.indices, self.settings = probe, objective, indices, settings
        self.memory_format = memory_format
        self.image = PARAMETERIZATIONS[settings.parameterization].build(indices.tolist(), settings).to(device)
        if start is None:  # a batch on its own; render() makes one start for all its batches
            start = partial(STARTS[settings.start](probe, objective, settings.size, device, len(indices)),
                            rows=torch.arange(len(indices)))
        start(self.image)
        self.rule = StepRule(self.image.parameters(), settings)
        self.transforms = (RandomTransforms(indices.tolist(), settings.steps, settings.seed)
                           if settings.transforms else None)
        self.done = 0

    def step(self) -> torch.Tensor:
        """One optimisation step of every image; returns their scores before the step."""
        self.rule.zero_grad()
        picture = self.image()
        if self.transforms is not None:
            picture = self.transforms(picture, self.done)
        picture = picture.contiguous(memory_format=self.memory_format)
        redirect = self.done < self.settings.relu_redirect_steps
        with RedirectReLUs() if redirect else contextlib.nullcontext():
            scores = self.objective(self.probe(picture))
        scores.sum().backward()
        self.rule.step()
        self.done += 1
        return scores.detach()

    @torch.no_grad()
    def images(self) -> torch.Tensor:
        """The current images (B, 3, size, size) in [0, 1], untransformed, on the model's device."""
        return self.image().detach()


def render(model: nn.Module, objective: Objective, settings: RenderSettings = RenderSettings(), *,
           progress: bool = False, indices: Sequence[int] | None = None,
           callback: Callback | None = None) -> torch.Tensor:
    """Images (N, 3, size, size) in [0, 1], one per image of ``objective``, in its order (see the module
    docstring). Runs on the model's device; deterministic under ``settings.seed`` (on CPU bit for bit).

    ``indices``: the seed index of each image (default ``0..N-1``, its position in the objective). Image ``i``
    starts from the draws of ``(seed, indices[i])`` (a ``"best_colour_grain"`` image that takes a speckle starts
    from the one fixed speckle field instead, :func:`aelab.viz.start.grain_field`):
    ``render(model, objective[i], settings, indices=[i])`` renders the same image as the whole objective does at
    position ``i``.

    ``callback(step, seed_indices, images)``, if given, is called after every optimisation step of every batch with
    the number of steps done, the batch's seed indices and a function returning its current images (without
    transforms): for monitoring and benchmarks.
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"render needs an aelab.viz.objectives.Objective, got {type(objective).__name__}")
    check_layer(model, objective.layer)
    device = model_device(model)
    probe = LayerProbe(model, objective.layer, normalize=True)
    count = objective.batch_size
    seeds = torch.arange(count) if indices is None else torch.as_tensor(list(indices), dtype=torch.long)
    if seeds.shape != (count,):
        raise ConfigError("render indices", list(seeds.reshape(-1).tolist()),
                          f"one seed index per image of the objective ({count})")
    result = torch.empty(count, 3, settings.size, settings.size)
    with frozen(model):
        batch = settings.batch_size or auto_batch_size(probe, settings, device, count)
        memory_format = input_memory_format(probe, device, settings.size)
        starting_point = STARTS[settings.start](probe, objective, settings.size, device, batch)
        with tqdm(total=count, desc=f"rendering {objective.layer}", unit="image", disable=not progress,
                  leave=False) as bar:
            for start in range(0, count, batch):
                rows = torch.arange(start, min(count, start + batch))
                run = BatchRender(probe, objective.select(rows), seeds[rows], settings, device, memory_format,
                                  partial(starting_point, rows=rows))
                for _ in range(settings.steps):
                    run.step()
                    if callback is not None:
                        callback(run.done, run.indices, run.images)
                result[rows] = run.images().float().cpu()
                bar.update(len(rows))
    return result


def objective_scores(model: nn.Module, objective: Objective, images: torch.Tensor) -> torch.Tensor:
    """The scores ``(N,)`` that ``objective`` gives RGB images ``(N, 3, H, W)`` in [0, 1], image ``i`` scored by
    the objective's ``i``-th term: what :func:`render` maximised, measured the same way (the model in eval mode,
    run up to ``objective.layer`` with its input normalisation), without gradients. For a :func:`channel` objective
    it is each image's mean activation of its channel (paper 004 eq. 1, ``h_ij(θ, X)`` averaged over positions)."""
    if not isinstance(objective, Objective):
        raise TypeError(f"objective_scores needs an aelab.viz.objectives.Objective, got {type(objective).__name__}")
    if images.dim() != 4 or images.shape[0] != objective.batch_size:
        raise ConfigError("images to score", tuple(images.shape),
                          f"({objective.batch_size}, 3, H, W): one image per image of the objective")
    probe = LayerProbe(model, objective.layer, normalize=True)
    with frozen(model), torch.no_grad():
        return objective(probe(images.to(model_device(model)))).float().cpu()


def objective_baseline(model: nn.Module, objective: Objective, images: torch.Tensor) -> torch.Tensor:
    """Each of ``objective``'s terms scored on every one of ``images`` (M, 3, H, W) in [0, 1] and averaged:
    ``(N,)`` levels the objective reaches on ordinary images, the baseline a rendered image's
    :func:`objective_scores` is read against."""
    if images.dim() != 4 or len(images) == 0:
        raise ConfigError("baseline images", tuple(images.shape), "(M, 3, H, W) with at least one image")
    count = len(images)
    return torch.stack([objective_scores(model, objective[[term] * count], images).mean()
                        for term in range(objective.batch_size)])


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
