"""Probe: a named layer's activations, and a model truncated at that layer (docs/science.md §6, docs/science.md §9
"Model").

Every aelab model names its probe points (``model.probe_layers()``) and runs only up to one of them with
``model.forward_until(images, name)``: a :class:`~aelab.models.backbones.Backbone` (``"4a"``, ``"layer3"``) as well
as every multi-task model (``"aesthetic.stage3"``, ``"emotion.connector2"``, ``"shared.layer3"``). Activation
maximisation optimises for one layer, so the layers after it would cost time and change nothing:
:func:`truncated` returns a callable that stops there. A plain ``nn.Module`` without ``forward_until`` is also
accepted: its submodule (a ``named_modules()`` name) is hooked and the forward pass is cut short by an exception
once that module has produced its output.

Images given to :func:`layer_activations` or a :class:`LayerProbe` with ``normalize=True`` are RGB in [0, 1];
the model's input normalisation (:func:`model_normalization`) is applied first: per-channel mean / std, or the
training set's mean image (patent CN109978074A), resized to the input when it is rendered at another size.
A run loaded with :func:`aelab.load_run` carries the normalisation it was trained with.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from aelab.data.normalization import IMAGENET_NORMALIZATION, InputNormalization, MeanImageNormalization, Normalization
from aelab.data.normalization import denormalize_input, normalize_input  # noqa: F401  (imported from here too)
from aelab.errors import UnknownNameError
from aelab.models.backbones import Backbone


def model_normalization(model: nn.Module) -> InputNormalization:
    """The input normalisation ``model`` expects of RGB images in [0, 1].

    A model's own ``normalization`` attribute (every :class:`Backbone` has one; :func:`aelab.load_run` sets the
    run's own on the model it loads), else that of its first backbone (multi-task models), else ImageNet's.
    """
    norm = getattr(model, "normalization", None)
    if isinstance(norm, (Normalization, MeanImageNormalization)):
        return norm
    return next((m.normalization for m in model.modules() if isinstance(m, Backbone)), IMAGENET_NORMALIZATION)


def input_normalization(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` per RGB channel that ``model`` expects of images in [0, 1] (see :func:`model_normalization`).
    A mean-image normalisation is summarised by its per-channel mean and std 1; :func:`normalize_input` applies
    the whole image."""
    norm = model_normalization(model)
    if isinstance(norm, MeanImageNormalization):
        return tuple(float(v) for v in norm.image.mean(dim=(1, 2))), (1.0, 1.0, 1.0)
    return tuple(norm.mean), tuple(norm.std)


def normalization_key(norm: InputNormalization) -> list | dict:
    """A JSON value that identifies ``norm`` (cache keys): ``[mean, std]``, or the mean image's SHA-256."""
    if isinstance(norm, MeanImageNormalization):
        image = norm.image.detach().to("cpu", torch.float32).contiguous()
        digest = hashlib.sha256(f"{tuple(image.shape)}|".encode() + image.numpy().tobytes()).hexdigest()
        return {"mean_image": digest}
    return [list(norm.mean), list(norm.std)]


def probe_layers(model: nn.Module) -> list[str]:
    """The names a probe accepts: ``model.probe_layers()``, or every named submodule of a plain module."""
    if hasattr(model, "probe_layers"):
        return list(model.probe_layers())
    return [name for name, _ in model.named_modules() if name]


def check_layer(model: nn.Module, layer: str) -> None:
    """Raise :class:`~aelab.errors.UnknownNameError` (listing the known names) unless ``layer`` is a probe layer."""
    names = probe_layers(model)
    if layer not in names:
        raise UnknownNameError(f"probe layer of {type(model).__name__}", layer, names)


def probe_module(model: nn.Module, layer: str) -> nn.Module:
    """The module whose output is probe layer ``layer`` (for hooks and captum)."""
    check_layer(model, layer)
    return model.layer(layer) if hasattr(model, "layer") else model.get_submodule(layer)


class _Reached(Exception):
    """Raised by a forward hook to stop a plain module's forward pass at the probed layer."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output


def _forward_until_hooked(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of submodule ``layer`` of a plain module; the modules after it never run."""
    def stop(module, inputs, output):
        raise _Reached(output)

    handle = model.get_submodule(layer).register_forward_hook(stop)
    try:
        model(x)
    except _Reached as reached:
        return reached.output
    finally:
        handle.remove()
    raise RuntimeError(f"the forward pass of {type(model).__name__} never reached {layer!r}")


class LayerProbe:
    """``x ↦`` the activation (B, C, H, W) of ``layer``, running ``model`` only up to that layer.

    With ``normalize=True`` the input is RGB in [0, 1] and the model's input normalisation is applied first
    (on the input's device and dtype). Gradients flow as usual; wrap calls in ``torch.no_grad()`` to probe only.
    """

    def __init__(self, model: nn.Module, layer: str, normalize: bool = False):
        check_layer(model, layer)
        self.model, self.layer, self.normalize = model, layer, normalize
        self.normalization = model_normalization(model)
        self.mean, self.std = input_normalization(model)
        self._native = hasattr(model, "forward_until")

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → the model's input (normalised when ``normalize``)."""
        return normalize_input(images, self.normalization) if self.normalize else images

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = self.prepare(images)
        if self._native:
            return self.model.forward_until(x, self.layer)
        return _forward_until_hooked(self.model, x, self.layer)

    def __repr__(self) -> str:
        return f"LayerProbe({type(self.model).__name__}, layer={self.layer!r}, normalize={self.normalize})"


def truncated(model: nn.Module, layer: str, normalize: bool = False) -> LayerProbe:
    """``model`` cut at ``layer``: a callable image batch ↦ that layer's activation (see :class:`LayerProbe`)."""
    return LayerProbe(model, layer, normalize=normalize)


def _model_device(model: nn.Module) -> torch.device | None:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return None if tensor is None else tensor.device


@torch.no_grad()
def layer_activations(model: nn.Module, images: torch.Tensor, layer: str, normalize: bool = False) -> torch.Tensor:
    """The activations (B, C, H, W) of probe layer ``layer`` for ``images`` (moved to the model's device), without
    gradients and running only the layers up to ``layer``. ``normalize=True``: ``images`` are RGB in [0, 1] and the
    model's input normalisation is applied (False: they are already the model's input). The model's mode
    (train/eval) is left as it is: call ``model.eval()`` for inference statistics."""
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (B, 3, H, W); got shape {tuple(images.shape)}")
    device = _model_device(model)
    if device is not None:
        images = images.to(device)
    return LayerProbe(model, layer, normalize=normalize)(images)
