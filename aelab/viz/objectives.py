"""Objectives of activation maximisation (docs/science.md §6; the Lucid/Lucent objective algebra, vectorised).

An :class:`Objective` maps the activation (B, C, H, W) of one probe layer to one score per image (B,): image
``i`` of a batch is optimised to raise score ``i``. Its ``batch_size`` is the number of images it describes
(one per channel for :func:`channel`), so one objective renders many images in one batch. Objectives compose
with ``+``, ``-`` and scalar ``*`` (``a + 0.5 * b``): the terms must share the layer and the batch size.

Many-channel objectives are one tensor expression over gathered channel indices, never a sum of per-channel
closures (Lucid-style sums of hundreds of terms are slow and hit Python's recursion limit); a weighted sum is
kept flat (a list of terms), however it was written.

Objectives can be indexed (``objective[2:5]``, ``objective[tensor_of_indices]``) to get the objective of a
subset of its images: the renderer uses it to split a large objective into batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import torch

Index = int | slice | Sequence[int] | torch.Tensor


def _as_index(index: Index, size: int) -> torch.Tensor:
    if isinstance(index, int):
        index = [index]
    if isinstance(index, slice):
        return torch.arange(size)[index]
    index = torch.as_tensor(index, dtype=torch.long).reshape(-1).cpu()
    if index.numel() and (index.min() < -size or index.max() >= size):
        raise IndexError(f"objective index out of range for batch size {size}: {index.tolist()}")
    return index % size if index.numel() else index


def _check_activation(act: torch.Tensor, batch: int, what: str) -> None:
    if act.dim() != 4:
        raise ValueError(f"{what}: expected an activation (B, C, H, W), got shape {tuple(act.shape)}")
    if act.shape[0] != batch:
        raise ValueError(f"{what}: the objective describes {batch} images but the activation has {act.shape[0]}")


class Objective:
    """A function of one layer's activation (B, C, H, W) → per-image scores (B,) to maximise.

    Subclasses implement :meth:`scores` and :meth:`select`. ``description`` is a short human-readable label.
    """

    layer: str
    batch_size: int
    description: str = "objective"

    def scores(self, act: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def select(self, index: torch.Tensor) -> Objective:
        """The objective of images ``index`` (a 1-D long tensor) of this one, in that order."""
        raise NotImplementedError

    def __call__(self, act: torch.Tensor) -> torch.Tensor:
        _check_activation(act, self.batch_size, self.description)
        return self.scores(act)

    def __len__(self) -> int:
        return self.batch_size

    def __getitem__(self, index: Index) -> Objective:
        return self.select(_as_index(index, self.batch_size))

    # ---- algebra -------------------------------------------------------------------------------------------

    def _terms(self) -> list[tuple[float, Objective]]:
        return [(1.0, self)]

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return WeightedSum(self._terms() + other._terms())

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return WeightedSum(self._terms() + [(-w, t) for w, t in other._terms()])

    def __mul__(self, weight: float) -> Objective:
        if not isinstance(weight, Real) or isinstance(weight, bool):
            return NotImplemented
        return WeightedSum([(float(weight) * w, t) for w, t in self._terms()])

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return -1.0 * self

    def __truediv__(self, divisor: float) -> Objective:
        if not isinstance(divisor, Real) or isinstance(divisor, bool):
            return NotImplemented
        return self * (1.0 / float(divisor))

    def __repr__(self) -> str:
        return f"<{self.description} at {self.layer!r}, {self.batch_size} image(s)>"


class WeightedSum(Objective):
    """Σ_j w_j · objective_j, all on one layer and one batch size (built by ``+``, ``-``, ``*``)."""

    def __init__(self, terms: list[tuple[float, Objective]]):
        layers = {t.layer for _, t in terms}
        sizes = {t.batch_size for _, t in terms}
        if len(layers) > 1:
            raise ValueError(f"objectives on different layers cannot be combined: {sorted(layers)} "
                             "(render them separately, or build both on one layer)")
        if len(sizes) > 1:
            raise ValueError(f"objectives with different batch sizes cannot be combined: {sorted(sizes)} images "
                             "(each term must describe the same images, e.g. channel(layer, [1, 2]) + "
                             "0.5 * neuron(layer, [3, 4]))")
        self.terms = terms
        self.layer = terms[0][1].layer
        self.batch_size = terms[0][1].batch_size
        self.description = " + ".join(f"{w:g}·{t.description}" for w, t in terms)

    def _terms(self) -> list[tuple[float, Objective]]:
        return list(self.terms)

    def scores(self, act: torch.Tensor) -> torch.Tensor:
        total = None
        for weight, term in self.terms:
            value = weight * term.scores(act)
            total = value if total is None else total + value
        return total

    def select(self, index: torch.Tensor) -> Objective:
        return WeightedSum([(w, t.select(index)) for w, t in self.terms])


def _channels(channels: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(channels, dtype=torch.long).reshape(-1).cpu()
    if tensor.numel() == 0:
        raise ValueError("an objective needs at least one channel")
    if (tensor < 0).any():
        raise ValueError(f"channel indices must be non-negative, got {tensor.tolist()}")
    return tensor


def _check_channels(act: torch.Tensor, channels: torch.Tensor, layer: str) -> None:
    if int(channels.max()) >= act.shape[1]:
        raise ValueError(f"layer {layer!r} has {act.shape[1]} channels; channel {int(channels.max())} asked for")


class ChannelObjective(Objective):
    """Image ``i`` maximises the mean activation of channel ``channels[i]`` over all positions."""

    def __init__(self, layer: str, channels: torch.Tensor):
        self.layer, self.channels = layer, channels
        self.batch_size = len(channels)
        self.description = f"channel {channels.tolist()}" if len(channels) <= 4 else f"{len(channels)} channels"

    def scores(self, act: torch.Tensor) -> torch.Tensor:
        _check_channels(act, self.channels, self.layer)
        rows = torch.arange(self.batch_size, device=act.device)
        return act[rows, self.channels.to(act.device)].mean(dim=(-2, -1))

    def select(self, index: torch.Tensor) -> Objective:
        return ChannelObjective(self.layer, self.channels[index])


class NeuronObjective(Objective):
    """Image ``i`` maximises channel ``channels[i]`` at one position (``x`` column, ``y`` row; default the centre
    of the activation map, whatever its size)."""

    def __init__(self, layer: str, channels: torch.Tensor, x: torch.Tensor | None, y: torch.Tensor | None):
        self.layer, self.channels, self.x, self.y = layer, channels, x, y
        self.batch_size = len(channels)
        where = "centre" if x is None and y is None else "position"
        self.description = (f"neuron {channels.tolist()} ({where})" if len(channels) <= 4
                            else f"{len(channels)} neurons ({where})")

    def scores(self, act: torch.Tensor) -> torch.Tensor:
        _check_channels(act, self.channels, self.layer)
        height, width = act.shape[-2:]
        device = act.device
        x = torch.full((self.batch_size,), width // 2) if self.x is None else self.x
        y = torch.full((self.batch_size,), height // 2) if self.y is None else self.y
        if int(x.max()) >= width or int(y.max()) >= height or int(x.min()) < 0 or int(y.min()) < 0:
            raise ValueError(f"neuron position (x={x.tolist()}, y={y.tolist()}) outside the {height}×{width} "
                             f"activation of layer {self.layer!r}")
        rows = torch.arange(self.batch_size, device=device)
        return act[rows, self.channels.to(device), y.to(device), x.to(device)]

    def select(self, index: torch.Tensor) -> Objective:
        return NeuronObjective(self.layer, self.channels[index], None if self.x is None else self.x[index],
                               None if self.y is None else self.y[index])


class DirectionObjective(Objective):
    """Image ``i`` maximises the dot product of the activation vector at each position with ``vectors[i]``,
    averaged over positions. With ``cossim_power`` p > 0 each position's dot product is multiplied by
    ``max(cos, 0.1)^p``, cos being the cosine similarity of the activation vector and the direction (Lucid's
    ``direction_neuron_cossim`` as used in activation grids): it rewards pointing the right way, not just
    a large norm."""

    def __init__(self, layer: str, vectors: torch.Tensor, cossim_power: float = 0.0):
        self.layer, self.vectors, self.cossim_power = layer, vectors, float(cossim_power)
        self.batch_size = len(vectors)
        self.description = f"{len(vectors)} direction(s)" + (f", cos^{cossim_power:g}" if cossim_power else "")

    def scores(self, act: torch.Tensor) -> torch.Tensor:
        if act.shape[1] != self.vectors.shape[1]:
            raise ValueError(f"layer {self.layer!r} has {act.shape[1]} channels but the directions have "
                             f"{self.vectors.shape[1]}")
        vectors = self.vectors.to(device=act.device, dtype=act.dtype)
        dot = torch.einsum("bchw,bc->bhw", act, vectors)
        if self.cossim_power:
            norms = act.norm(dim=1) * vectors.norm(dim=1)[:, None, None]
            cos = dot / (norms + 1e-6)
            dot = dot * cos.clamp(min=0.1) ** self.cossim_power
        return dot.mean(dim=(-2, -1))

    def select(self, index: torch.Tensor) -> Objective:
        return DirectionObjective(self.layer, self.vectors[index], self.cossim_power)


# ---- constructors --------------------------------------------------------------------------------------------


def channel(layer: str, channels: int | Sequence[int] | torch.Tensor) -> Objective:
    """One image per channel, each maximising its channel's mean activation (docs/science.md §6 channel
    visualisation). ``channel("4a", range(512))`` is the objective of a whole layer's atlas."""
    return ChannelObjective(layer, _channels(channels))


def _positions(value: int | Sequence[int] | None, count: int, name: str) -> torch.Tensor | None:
    if value is None:
        return None
    tensor = torch.as_tensor(value, dtype=torch.long).reshape(-1).cpu()
    if tensor.numel() == 1:
        tensor = tensor.expand(count).clone()
    if tensor.numel() != count:
        raise ValueError(f"{name} needs one position or one per channel ({count}); got {tensor.numel()}")
    return tensor


def neuron(layer: str, channels: int | Sequence[int] | torch.Tensor, x: int | Sequence[int] | None = None,
           y: int | Sequence[int] | None = None) -> Objective:
    """One image per channel, each maximising its channel at one spatial position (docs/science.md §6 neuron
    visualisation): column ``x`` and row ``y`` of the activation map (one for all, or one per channel); the
    centre (``W // 2``, ``H // 2``) of whatever map the layer produces when omitted."""
    chans = _channels(channels)
    return NeuronObjective(layer, chans, _positions(x, len(chans), "x"), _positions(y, len(chans), "y"))


def direction(layer: str, vectors: torch.Tensor, cossim_power: float = 0.0) -> Objective:
    """One image per row of ``vectors`` (N, C), each maximising the mean over positions of the dot product of the
    activation vector with that direction (an NMF group's channel factors, an activation-grid cell's vector);
    ``cossim_power``: see :class:`DirectionObjective`."""
    vectors = torch.as_tensor(vectors).detach().float()
    if vectors.dim() == 1:
        vectors = vectors[None]
    if vectors.dim() != 2 or len(vectors) == 0:
        raise ValueError(f"direction vectors must have shape (N, C), got {tuple(vectors.shape)}")
    if cossim_power < 0:
        raise ValueError(f"cossim_power must be >= 0, got {cossim_power}")
    return DirectionObjective(layer, vectors.cpu(), cossim_power)
