"""The model while it is rendered: its device, frozen weights, batch size from memory, input memory layout."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch import nn

from aelab.viz.probe import LayerProbe
from aelab.viz.robustness import TransformSpec

CPU_MAX_BATCH = 16  # on CPU larger batches gain nothing per image (measured on GoogLeNet 4a, 2 cores)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model with neither."""
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


def _bytes_per_image(probe: LayerProbe, size: int, transforms: bool, device: torch.device) -> int:
    """Memory one image needs in a step: the tensors autograd saves for the backward pass, and as much again."""
    side = TransformSpec().output_size(size) if transforms else size
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    x = torch.rand(1, 3, side, side, device=device, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        probe(x).sum()
    return 2 * saved + 3 * 4 * side * side * 8  # grads and temporaries ~ as much again; parameters and state


def auto_batch_size(probe: LayerProbe, settings, device: torch.device, count: int) -> int:
    """Images per batch for ``settings`` (a :class:`~aelab.viz.render_settings.RenderSettings`): on CUDA what fits
    in 40 % of the free memory, on CPU what fits in 2 GiB (at most ``CPU_MAX_BATCH``); never more than ``count``."""
    per_image = max(1, _bytes_per_image(probe, settings.size, settings.transforms, device))
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


def input_memory_format(probe: LayerProbe, device: torch.device, side: int) -> torch.memory_format:
    """Channels-last (oneDNN's fast convolution layout on CPU) when the model accepts it (a model calling ``.view``
    on a feature map may not), else the usual layout."""
    try:
        with torch.no_grad():
            probe(torch.rand(1, 3, side, side, device=device).contiguous(memory_format=torch.channels_last))
    except RuntimeError:
        return torch.contiguous_format
    return torch.channels_last
