"""Which words of a comment look at which image regions: the text←image co-attention of MCN-MTL (paper 002, §3
CTRM), one heat map over the image per word.

The weights are the softmax of the co-attention layer whose queries are the words and whose keys are the image
regions (``nn.MultiheadAttention``'s weights, averaged over heads), taken from one MTRL layer (default the last).
Regions are the backbone's last-stage grid, so the maps are as coarse as that grid (2×2 … 7×7).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from aelab.text import SPECIALS
from aelab.viz.overlays import overlay, to_hwc


@dataclass
class WordAttention:
    """``words``: the comment's tokens as the model read them (``<unk>`` for unknown words); ``maps``:
    ``(T, h, w)`` attention of each token over the region grid (each map sums to 1); ``layer``: the MTRL index."""

    words: list[str]
    maps: torch.Tensor
    layer: int

    def peak(self) -> list[float]:
        """Each word's largest region weight (1 / regions = spread evenly)."""
        return self.maps.flatten(1).max(dim=1).values.tolist()


@torch.no_grad()
def word_attention(model: torch.nn.Module, image: torch.Tensor, comment: str, layer: int = -1) -> WordAttention:
    """The co-attention maps of ``model`` (an MCN with co-attention) for one normalised image ``(3, H, W)`` and its
    comment string. Raises ``ValueError`` for a model without co-attention layers."""
    encode = getattr(model, "encode", None)
    if encode is None or not getattr(model, "use_text", False):
        raise ValueError(f"word_attention needs an image-text model with co-attention, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tokens, padding = model.tokens([comment], 1, device)
    encoding = encode(image[None].to(device), tokens, padding, need_weights=True)
    model.train(was_training)
    if not encoding.attention:
        raise ValueError(f"model {getattr(model, 'arch', '')!r} has no co-attention layers (mcn_no_ctrm, layers=0)")
    index = layer % len(encoding.attention)
    h, w = encoding.grid
    words = model.vocabulary.decode(tokens[0].tolist())
    return WordAttention(words, encoding.attention[index][0].reshape(-1, h, w).float().cpu(), index)


def choose_words(attention: WordAttention, count: int = 6, words: Sequence[str] | None = None) -> list[int]:
    """Token positions to show: those of ``words`` when given, else the ``count`` non-special tokens whose
    attention is most concentrated (first occurrence of each word)."""
    if words:
        wanted = [w.lower() for w in words]
        return [i for i, w in enumerate(attention.words) if w in wanted][:count]
    seen, order = set(), []
    for i in sorted(range(len(attention.words)), key=lambda i: -attention.peak()[i]):
        if attention.words[i] not in SPECIALS and attention.words[i] not in seen:
            seen.add(attention.words[i])
            order.append(i)
    return sorted(order[:count])


def word_attention_figure(picture, attention: WordAttention, positions: Sequence[int], comment: str = "",
                          inches: float = 2.2, title: str | None = None) -> Figure:
    """The image, then one heat map over it per chosen token position (panel title: the word and its peak weight);
    ``title`` (e.g. :func:`aelab.viz.faithfulness_text.attention_title`) goes above the comment."""
    base = to_hwc(picture)
    figure, axes = plt.subplots(1, len(positions) + 1, figsize=(inches * (len(positions) + 1), inches * 1.25),
                                squeeze=False)
    axes[0, 0].imshow(base)
    axes[0, 0].set_title("image", fontsize=9)
    for ax, position in zip(axes[0, 1:], positions):
        ax.imshow(overlay(base, attention.maps[position], alpha=0.55))
        ax.set_title(f"'{attention.words[position]}' ({attention.maps[position].max():.2f})", fontsize=9)
    for ax in axes[0]:
        ax.axis("off")
    lines = [textwrap.fill(title, 20 * (len(positions) + 1))] if title else []
    lines += [f"MTRL layer {attention.layer + 1}: {comment[:110]}"] if comment else []
    if lines:
        figure.suptitle("\n".join(lines), fontsize=9)
    figure.tight_layout()
    return figure
