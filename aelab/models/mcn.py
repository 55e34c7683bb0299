"""MCN-MTL: image regions and comment words through self- and co-attention Transformer layers (paper 002, Miao &
Liang 2025, §3; docs/science.md §3 "MCN-MTL").

Image side: the backbone's last-stage map ``(B, C, h, w)`` read as ``h·w`` region vectors, projected to ``width``
with 2-D positions. Text side: the comments' word indices (:class:`~aelab.text.Vocabulary`) → embeddings
(optionally initialised from pretrained word vectors) → ``width`` with 1-D positions. Each side passes its STRM,
then ``layers`` MTRL layers (:mod:`aelab.models.coattention`); each side is mean-pooled (text over its real words
only) and the two are concatenated; one linear head per task (aesthetic score and/or high/low, the 14 styles).

Variants: ``co_attention=False`` (ablation ``mcn_no_ctrm``) and ``text=False`` (image-only baseline: the same
backbone, image STRM, image self-attention layers and heads, no comments).

An image without comments is encoded as the single ``<empty>`` token: the text side then carries no information
about that image, so its predictions rest on the image alone, through a model trained mostly with comments
(see ``docs/image_text.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aelab.models.backbones import Backbone
from aelab.models.coattention import MTRL, grid_positions, self_attention_layer, text_positions
from aelab.models.heads import Head
from aelab.models.multitask import MultiTaskModel
from aelab.tasks import Task
from aelab.text import Vocabulary, read_word_vectors


@dataclass
class Encoding:
    """What :meth:`MCN.encode` computes: per-modality token sequences after the last layer, the text padding
    mask, the pooled joint vector, the region grid size and, when asked, the text←image attention per layer."""

    image: Tensor  # (B, R, W) regions
    text: Tensor | None  # (B, T, W) words
    padding: Tensor | None  # (B, T) True at padding
    pooled: Tensor  # (B, 2W), or (B, W) image-only
    grid: tuple[int, int]
    attention: list[Tensor]  # per MTRL layer: (B, T, R)


class MCN(MultiTaskModel):
    """The MCN-MTL network; forward ``(images, comments=None) -> {task: logits}`` where ``comments`` is one
    string per image (:func:`aelab.text.join_comments`; None or ``""``: no comments). Probes: ``image.<backbone
    probe>``. ``shared_parameters()``: the last MTRL layer (GradNorm's last shared layer)."""

    def __init__(self, arch: str, tasks: Sequence[Task], backbone: Backbone, vocabulary: Vocabulary, *,
                 width: int = 128, layers: int = 2, heads: int = 4, feedforward: int | None = None,
                 attention_dropout: float = 0.1, head_dropout: float = 0.0, max_tokens: int = 64,
                 co_attention: bool = True, text: bool = True, word_vectors: str | None = None):
        super().__init__(tasks, backbone.name)
        if width % 4 or width % heads:
            raise ValueError(f"width must be divisible by 4 and by heads={heads}, got width={width}")
        if layers < 0 or max_tokens < 1:
            raise ValueError(f"layers must be >= 0 and max_tokens >= 1, got layers={layers}, max_tokens={max_tokens}")
        self.arch, self.width, self.max_tokens, self.use_text = arch, width, max_tokens, text
        self.batch_inputs = ("comments",) if text else ()
        feedforward = feedforward or 2 * width
        self.backbone = backbone
        self.image_projection = nn.Linear(backbone.out_channels, width)
        self.image_norm = nn.LayerNorm(width)
        self.image_strm = self_attention_layer(width, heads, feedforward, attention_dropout)
        self.vocabulary = vocabulary
        if text:
            vectors = None
            if word_vectors:
                vectors, _ = read_word_vectors(word_vectors, vocabulary)
            self.embedding = nn.Embedding(len(vocabulary), width if vectors is None else vectors.shape[1],
                                          padding_idx=0)
            if vectors is not None:
                with torch.no_grad():
                    self.embedding.weight.copy_(vectors)
            self.text_projection = nn.Linear(self.embedding.embedding_dim, width)
            self.text_norm = nn.LayerNorm(width)
            self.text_strm = self_attention_layer(width, heads, feedforward, attention_dropout)
        self.layers = nn.ModuleList(MTRL(width, heads, feedforward, attention_dropout, co_attention, text)
                                    for _ in range(layers))
        pooled = 2 * width if text else width
        self.heads = nn.ModuleDict({t.name: Head(t, pooled, head_dropout, features=nn.Identity()) for t in tasks})

    # ---- encoding ----------------------------------------------------------------------------------------
    def tokens(self, comments: Sequence[str] | None, batch: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """``(tokens, padding)`` of one comment string per image (None: every image without comments)."""
        if comments is None:
            comments = [""] * batch
        if isinstance(comments, str) or len(comments) != batch:
            raise ValueError(f"comments must be a sequence of {batch} strings (one per image), got "
                             f"{type(comments).__name__} of length {len(comments)}")
        return self.vocabulary.encode(list(comments), self.max_tokens, device)

    def encode(self, images: Tensor, tokens: Tensor | None = None, padding: Tensor | None = None,
               need_weights: bool = False) -> Encoding:
        """Run both sides through STRM and the MTRL stack. ``tokens``: ``(B, T)`` indices (None: the empty
        text), ``padding``: ``(B, T)`` bool, True at padding (default: ``tokens == 0``)."""
        grid = self.backbone(images)
        batch, _, h, w = grid.shape
        image = self.image_projection(grid.flatten(2).transpose(1, 2))
        image = self.image_strm(self.image_norm(image + grid_positions(h, w, self.width, image.device)))
        text = None
        if self.use_text:
            if tokens is None:
                tokens, padding = self.tokens(None, batch, images.device)
            padding = tokens == 0 if padding is None else padding
            text = self.text_projection(self.embedding(tokens))
            text = text + text_positions(tokens.shape[1], self.width, text.device)
            text = self.text_strm(self.text_norm(text), src_key_padding_mask=padding)
        attention = []
        for layer in self.layers:
            image, text, weights = layer(image, text, padding, need_weights)
            if weights is not None:
                attention.append(weights)
        pooled = image.mean(dim=1)
        if text is not None:
            keep = (~padding).unsqueeze(-1).to(text.dtype)
            pooled = torch.cat((pooled, (text * keep).sum(1) / keep.sum(1).clamp(min=1)), dim=1)
        return Encoding(image, text, padding, pooled, (h, w), attention)

    def forward(self, images: Tensor, comments: Sequence[str] | None = None) -> dict[str, Tensor]:
        tokens, padding = self.tokens(comments, len(images), images.device) if self.use_text else (None, None)
        return self.predict_encoded(self.encode(images, tokens, padding))

    def predict_encoded(self, encoding: Encoding) -> dict[str, Tensor]:
        return {t: self.heads[t](encoding.pooled) for t in self.task_names}

    # ---- contract ----------------------------------------------------------------------------------------
    def shared_parameters(self) -> list[nn.Parameter]:
        return list((self.layers[-1] if len(self.layers) else self.image_strm).parameters())

    def probe_layers(self) -> list[str]:
        return [f"image.{p}" for p in self.backbone.probe_layers()]

    def layer(self, name: str) -> nn.Module:
        return self.backbone.layer(self._split_probe(name, ["image"])[1])

    def forward_until(self, images: Tensor, name: str) -> Tensor:
        return self.backbone.forward_until(images, self._split_probe(name, ["image"])[1])

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, width={self.width}, layers={len(self.layers)}, "
                f"vocabulary={len(self.vocabulary)}, text={self.use_text}")


def vocabulary_from(spec: Sequence[str] | str | None) -> Vocabulary:
    """A :class:`Vocabulary` from a word list, a vocabulary file path, or None (special tokens only)."""
    if spec is None:
        return Vocabulary()
    if isinstance(spec, str):
        return Vocabulary.load(spec)
    return Vocabulary(list(spec))


def fit_vocabulary(samples: Sequence, options: dict) -> dict:
    """Options of an MCN derived from its training samples: ``vocabulary`` = the words of their comments
    (``min_count``, ``max_words``), unless already given. Raises when no training sample has comments."""
    if options.get("vocabulary") is not None:
        return options
    texts = [" ".join(s.labels["comments"]) for s in samples if s.labels.get("comments")]
    if not texts:
        raise ValueError("the image-text model needs comments: no training sample carries a 'comments' label "
                         "(AVA: pass data_options={'comments': PATH} with the AVA-Comments file)")
    vocabulary = Vocabulary.build(texts, min_count=int(options.get("min_count", 1)),
                                  max_words=options.get("max_words"))
    return {**options, "vocabulary": vocabulary.words}
