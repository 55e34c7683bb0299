"""The Transformer blocks of MCN-MTL (paper 002, Miao & Liang 2025, §3; docs/science.md §3 "MCN-MTL").

- **STRM** (self-attention Transformer module): one ``nn.TransformerEncoderLayer`` per modality (multi-head
  self-attention, Add&Norm, feed-forward, Add&Norm).
- **CTRM** (co-attention Transformer module), :class:`CoAttention`: queries from one modality, keys and values
  from the other, Add&Norm, feed-forward, Add&Norm (the ViLBERT-style co-attention block the paper builds on).
- **MTRL** (multimodal Transformer layer), :class:`MTRL`: a CTRM in each direction, both reading the layer's
  inputs, then an STRM per modality. Without co-attention (ablation ``mcn_no_ctrm``) only the STRMs remain, so the
  two modalities never see each other before pooling.

Positions are fixed sinusoids (Vaswani et al. 2017, §3.5): 1-D over the words, and over the image grid half the
channels encode the row and half the column **(choice: the paper adds "position information" without saying
how; fixed sinusoids work for any grid size and text length)**.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoid(positions: Tensor, width: int) -> Tensor:
    """``(N, width)`` sinusoidal encodings of float positions (``width`` even)."""
    frequencies = torch.exp(torch.arange(0, width, 2, device=positions.device, dtype=torch.float32)
                            * (-math.log(10000.0) / width))
    angles = positions.float()[:, None] * frequencies[None, :]
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)


def text_positions(length: int, width: int, device: torch.device) -> Tensor:
    """``(length, width)`` encodings of word positions 0..length-1."""
    return sinusoid(torch.arange(length, device=device), width)


def grid_positions(height: int, width_cells: int, width: int, device: torch.device) -> Tensor:
    """``(height·width_cells, width)`` encodings of a row-major region grid: row in the first half of the
    channels, column in the second (``width`` divisible by 4)."""
    rows = sinusoid(torch.arange(height, device=device), width // 2)
    cols = sinusoid(torch.arange(width_cells, device=device), width // 2)
    return torch.cat((rows[:, None, :].expand(-1, width_cells, -1), cols[None, :, :].expand(height, -1, -1)),
                     dim=-1).reshape(height * width_cells, width)


def self_attention_layer(width: int, heads: int, feedforward: int, dropout: float) -> nn.TransformerEncoderLayer:
    """STRM: a post-norm Transformer encoder layer (self-attention + Add&Norm + FFN + Add&Norm)."""
    return nn.TransformerEncoderLayer(width, heads, feedforward, dropout, batch_first=True)


class CoAttention(nn.Module):
    """CTRM: ``query`` attends to ``context`` (``nn.MultiheadAttention``), Add&Norm, feed-forward, Add&Norm."""

    def __init__(self, width: int, heads: int, feedforward: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.feedforward = nn.Sequential(nn.Linear(width, feedforward), nn.ReLU(), nn.Dropout(dropout),
                                          nn.Linear(feedforward, width))
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, query: Tensor, context: Tensor, context_padding: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """``(B, Nq, W)`` updated queries and, with ``need_weights``, the ``(B, Nq, Nc)`` attention weights
        averaged over heads. ``context_padding``: ``(B, Nc)`` bool, True where the context is padding."""
        attended, weights = self.attention(query, context, context, key_padding_mask=context_padding,
                                           need_weights=need_weights)
        x = self.norm1(query + self.dropout1(attended))
        return self.norm2(x + self.dropout2(self.feedforward(x))), weights


class MTRL(nn.Module):
    """One multimodal Transformer layer: image←text and text←image co-attention (if ``co_attention``), then
    self-attention per modality. ``text=False`` keeps the image path only (the image-only baseline)."""

    def __init__(self, width: int, heads: int, feedforward: int, dropout: float, co_attention: bool = True,
                 text: bool = True):
        super().__init__()
        self.co_attention = co_attention and text
        if self.co_attention:
            self.image_from_text = CoAttention(width, heads, feedforward, dropout)
            self.text_from_image = CoAttention(width, heads, feedforward, dropout)
        self.image_self = self_attention_layer(width, heads, feedforward, dropout)
        self.text_self = self_attention_layer(width, heads, feedforward, dropout) if text else None

    def forward(self, image: Tensor, text: Tensor | None, padding: Tensor | None, need_weights: bool = False
                ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """``(image, text, weights)``; ``weights`` (with ``need_weights`` and co-attention): ``(B, T, R)``, how
        much each word attends to each image region in the text←image co-attention."""
        weights = None
        if self.co_attention:
            new_image, _ = self.image_from_text(image, text, padding)
            text, weights = self.text_from_image(text, image, None, need_weights)
            image = new_image
        image = self.image_self(image)
        if self.text_self is not None:
            text = self.text_self(text, src_key_padding_mask=padding)
        return image, text, weights
