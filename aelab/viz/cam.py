"""Grad-CAM (Selvaraju et al. 2017) for any task head, class and probe layer, through captum (docs/science.md §6).

``grad_cam(model, images, layer, task, target)`` wraps the multi-task model so that captum sees one output
tensor per call (:class:`TaskOutput`) and runs ``captum.attr.LayerGradCam`` on the module of probe ``layer``
(``model.layer(layer)``). In the order of Selvaraju et al. (2017, eqs. 1–2) the map is
``L = ReLU(Σ_k α_k A^k)`` on the layer's own grid (``relu_attributions=True``), with ``α_k`` the spatial mean of
``∂y^c/∂A^k``; only then is it upsampled with ``LayerAttribution.interpolate`` (bilinear) to the input size, and
each map is divided by its maximum, so every returned map lies in [0, 1] (an all-zero map stays zero). The order
matters: bilinear upsampling mixes neighbouring cells, so a ReLU applied after it would let negative cells cancel
part of their positive neighbours and move the map's mass.

Targets (what "class" means per head kind):

- ``multiclass`` (``(B, C)`` logits): the class index; ``target=None`` takes each image's predicted class.
- ``binary`` (``(B,)`` logits, one logit for BCE): the head is shown to captum as two columns ``[-z, z]``, so
  class 1 ("high", "positive") is the logit ``z`` and class 0 is its negative ``-z`` (the gradient of
  log-odds against class 1 is the gradient of ``-z``); ``None`` takes the predicted class (``z > 0`` → 1).
- ``regression`` (``(B,)``): one column ``[z]``, target 0 (``None`` works too): "what raises the score".
- ``multilabel`` (``(B, K)``): the label index; ``None`` takes each image's most probable label.

Paper 004's spliced-image check: :func:`spliced_image` joins a negative and a positive image side by side and
:func:`cam_mass_in_box` (with :func:`half_box`) says how much of the map's mass lies on either half.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam
from PIL import Image
from torch import nn

from aelab.errors import ConfigError, UnknownNameError
from aelab.task_kinds import kind_named
from aelab.viz.probe import probe_module

TargetSpec = int | Sequence[int] | torch.Tensor | None


class TaskOutput(nn.Module):
    """``images -> (B, K)`` scores of one task head of a multi-task model, the single-output view captum needs.

    Binary heads become ``[-z, z]`` (class 0, class 1), regression heads ``[z]``; multiclass / multilabel
    logits pass unchanged (each kind's ``captum_view`` in :data:`aelab.task_kinds.TASK_KINDS`). ``kind`` is read
    from the model's task list (``model.tasks``) or given.
    """

    def __init__(self, model: nn.Module, task: str, kind: str | None = None):
        super().__init__()
        names = list(getattr(model, "task_names", []))
        if kind is None:
            kinds = {t.name: t.kind for t in getattr(model, "tasks", [])}
            if task not in kinds:
                raise UnknownNameError("task head", task, names)
            kind = kinds[task]
        self.model, self.task, self.kind = model, task, kind
        self.view = kind_named(kind).captum_view

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outputs = self.model(images)
        if self.task not in outputs:
            raise UnknownNameError("task head", self.task, list(outputs))
        return self.view(outputs[self.task])


def _targets(target: TargetSpec, count: int) -> torch.Tensor | None:
    """One class index per image, or None (each image's predicted class, decided per chunk)."""
    if target is None:
        return None
    targets = torch.as_tensor(target, dtype=torch.long).reshape(-1)
    if targets.numel() == 1:
        targets = targets.expand(count)
    if targets.numel() != count:
        raise ValueError(f"target has {targets.numel()} entries for {count} images; "
                         "give one class index or one per image")
    return targets


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Each map (leading dim) divided by its maximum; all-zero maps stay zero. Negative values are clipped
    first (a no-op on :func:`grad_cam`'s maps, which are ReLU'd on the layer's grid before upsampling)."""
    maps = maps.clamp(min=0)
    peak = maps.flatten(1).amax(dim=1).clamp(min=1e-12).view(-1, *[1] * (maps.dim() - 1))
    return maps / peak


def head_uses_layer(model: nn.Module, layer: str, task: str, image: torch.Tensor) -> bool:
    """Whether ``task``'s head depends on probe ``layer`` (one backward pass of ``image``, ``(3, H, W)`` or a
    batch, in eval mode, restored afterwards): in a two-branch model the last connector's output of one branch feeds
    only that branch's head. Works with frozen weights: the layer's output is made to require a gradient."""
    module, captured = probe_module(model, layer), []

    def keep(_module, _inputs, output):
        if not output.requires_grad:  # frozen weights before the layer: start the graph here, as captum does
            output.requires_grad_()
        captured.append(output)

    handle = module.register_forward_hook(keep)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            batch = (image if image.dim() == 4 else image[None])[:1].to(next(model.parameters()).device)
            score = TaskOutput(model, task)(batch).sum()
            if not captured or not score.requires_grad:
                return False
            gradient, = torch.autograd.grad(score, captured[0], allow_unused=True)
    finally:
        handle.remove()
        model.train(was_training)
    return gradient is not None


def grad_cam(
    model: nn.Module,
    images: torch.Tensor,
    layer: str,
    task: str,
    target: TargetSpec = None,
    *,
    batch_size: int = 64,
    size: tuple[int, int] | None = None,
    normalize: bool = True,
    check_dependency: bool = True,
) -> torch.Tensor:
    """Grad-CAM maps ``(B, H, W)`` of ``task``'s class ``target`` at probe ``layer`` for a batch of images.

    ``images``: ``(B, 3, H, W)`` (or one ``(3, H, W)``), already transformed as the model expects.
    ``target``: a class index for every image, one per image, or None for each image's predicted class (see the
    module docstring for binary / regression heads). Each map is ``ReLU(Σ_k α_k A^k)`` on the layer's grid,
    then upsampled bilinearly to ``size`` (default the input's H×W); with ``normalize`` (default) it is scaled to
    max 1 per image, otherwise returned at captum's scale (non-negative either way). The model is run in eval
    mode (restored afterwards) in chunks of ``batch_size`` images. A ``layer`` the head does not depend on (the
    other branch's last connector) is a ConfigError; ``check_dependency=False`` skips that backward pass for a caller
    that has already asked :func:`head_uses_layer`.
    """
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4:
        raise ValueError(f"grad_cam expects images of shape (B, 3, H, W), got {tuple(images.shape)}")
    module = probe_module(model, layer)  # UnknownNameError lists the probe layers
    size = tuple(size) if size is not None else tuple(images.shape[-2:])
    wrapper = TaskOutput(model, task)
    device = next(model.parameters()).device
    targets = _targets(target, images.shape[0])
    was_training = model.training
    model.eval()
    try:
        if check_dependency and not head_uses_layer(model, layer, task, images):
            raise ConfigError("layer", layer, f"a probe layer the {task} head depends on (its output does not reach "
                                              f"that head)")
        cam = LayerGradCam(wrapper, module)
        maps = []
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start:start + batch_size].to(device)
            if targets is None:
                with torch.no_grad():
                    chunk_targets = wrapper(chunk).argmax(dim=1)
            else:
                chunk_targets = targets[start:start + batch_size].to(device)
            attribution = cam.attribute(chunk, target=chunk_targets, relu_attributions=True)  # ReLU, then upsample
            maps.append(LayerAttribution.interpolate(attribution, size, interpolate_mode="bilinear")[:, 0].detach())
    finally:
        model.train(was_training)
    result = torch.cat(maps).cpu()
    return normalize_maps(result) if normalize else result


def predicted_targets(model: nn.Module, images: torch.Tensor, task: str) -> torch.Tensor:
    """The class index :func:`grad_cam` explains with ``target=None`` for each image (eval mode, restored):
    the arg-max of the head as captum sees it (:class:`TaskOutput`)."""
    images = images if images.dim() == 4 else images[None]
    wrapper = TaskOutput(model, task)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return wrapper(images.to(next(model.parameters()).device)).argmax(dim=1).cpu()
    finally:
        model.train(was_training)


def task_classes(model: nn.Module, task: str) -> tuple[str, ...]:
    """The class names of ``task``'s head as Grad-CAM targets them (a regression head's single column: ``"score"``)."""
    return {t.name: tuple(t.classes) for t in getattr(model, "tasks", [])}.get(task) or ("score",)


def target_names(model: nn.Module, task: str, targets: Sequence[int] | torch.Tensor) -> list[str]:
    """The class name of each target index of ``task`` (a regression head's single column is ``"score"``)."""
    classes = task_classes(model, task)
    return [classes[int(index)] for index in torch.as_tensor(targets).reshape(-1)]


# ---- boxes and the spliced-image check --------------------------------------------------------------------


def _coverage(low: float, high: float, count: int) -> np.ndarray:
    """Fraction of each of ``count`` equal pixel intervals of [0, 1] that lies inside [low, high]."""
    edges = np.arange(count + 1) / count
    return np.clip(np.minimum(edges[1:], high) - np.maximum(edges[:-1], low), 0, None) * count


def box_weights(box: Sequence[float], height: int, width: int) -> np.ndarray:
    """``(H, W)`` share of each pixel covered by a normalised box ``(x0, y0, x1, y1)`` (partial pixels count
    their covered fraction, so a uniform map puts exactly the box's area fraction inside it)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1):
        raise ValueError(f"box must be normalised (x0, y0, x1, y1) with 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1, "
                         f"got {tuple(box)}")
    return np.outer(_coverage(y0, y1, height), _coverage(x0, x1, width))


def box_area(box: Sequence[float]) -> float:
    """Area fraction of the frame covered by a normalised box."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def cam_mass_in_box(cam: torch.Tensor | np.ndarray, box: Sequence[float]) -> float:
    """Fraction of a non-negative map's total mass ``(H, W)`` inside a normalised box ``(x0, y0, x1, y1)``.

    Compare with :func:`box_area`: a map that ignores the box puts about its area fraction inside. An all-zero map
    gives NaN (it has no mass to place).
    """
    cam = cam.detach().cpu().numpy() if isinstance(cam, torch.Tensor) else np.asarray(cam)
    if cam.ndim != 2:
        raise ValueError(f"cam_mass_in_box expects one (H, W) map, got shape {cam.shape}")
    if (cam < 0).any():
        raise ValueError("cam_mass_in_box needs a non-negative map (use grad_cam's normalised output)")
    total = float(cam.sum())
    if total == 0:
        return float("nan")
    return float((cam * box_weights(box, *cam.shape)).sum() / total)


def half_box(side: str) -> tuple[float, float, float, float]:
    """The normalised box of the ``"left"`` or ``"right"`` half of a frame (for spliced images)."""
    boxes = {"left": (0.0, 0.0, 0.5, 1.0), "right": (0.5, 0.0, 1.0, 1.0)}
    if side not in boxes:
        raise UnknownNameError("half", side, list(boxes))
    return boxes[side]


def spliced_image(left_image, right_image, mode: str = "squeeze"):
    """Paper 004's spliced check image: ``left_image`` on the left half, ``right_image`` on the right.

    Both images are ``(3, H, W)`` tensors or PIL images of one size; the result has that size and type.
    ``mode="squeeze"`` (default) resizes each whole image to half the width, so both contents appear;
    ``"halves"`` keeps the left half of ``left_image`` and the right half of ``right_image`` unscaled.
    """
    if mode not in ("squeeze", "halves"):
        raise UnknownNameError("splice mode", mode, ["squeeze", "halves"])
    if isinstance(left_image, Image.Image) and isinstance(right_image, Image.Image):
        if left_image.size != right_image.size:
            raise ValueError(f"images differ in size: {left_image.size} vs {right_image.size}")
        width, height = left_image.size
        half = width // 2
        out = Image.new("RGB", (width, height))
        if mode == "squeeze":
            out.paste(left_image.convert("RGB").resize((half, height), Image.BILINEAR), (0, 0))
            out.paste(right_image.convert("RGB").resize((width - half, height), Image.BILINEAR), (half, 0))
        else:
            out.paste(left_image.convert("RGB").crop((0, 0, half, height)), (0, 0))
            out.paste(right_image.convert("RGB").crop((half, 0, width, height)), (half, 0))
        return out
    if not (isinstance(left_image, torch.Tensor) and isinstance(right_image, torch.Tensor)):
        raise TypeError("spliced_image takes two PIL images or two (3, H, W) tensors, "
                        f"got {type(left_image).__name__} and {type(right_image).__name__}")
    if left_image.shape != right_image.shape or left_image.dim() != 3:
        raise ValueError(f"spliced_image needs two (3, H, W) tensors of one shape, "
                         f"got {tuple(left_image.shape)} and {tuple(right_image.shape)}")
    height, width = left_image.shape[-2:]
    half = width // 2
    if mode == "halves":
        return torch.cat([left_image[..., :half], right_image[..., half:]], dim=-1)
    squeeze = torch.nn.functional.interpolate
    left = squeeze(left_image[None].float(), size=(height, half), mode="bilinear", align_corners=False,
                   antialias=True)[0]
    right = squeeze(right_image[None].float(), size=(height, width - half), mode="bilinear",
                    align_corners=False, antialias=True)[0]
    return torch.cat([left, right], dim=-1).to(left_image.dtype)
