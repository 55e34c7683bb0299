"""Does the co-attention of an image–text model (paper 002, Miao & Liang 2025, §3 CTRM) tie the words that name
SynthAE's subject to the place where the subject is?

A comment that names the subject ("the red triangle …", or SynthAE's own "the subject is cut off") should make the
word "subject" and the words for its colour and its shape attend to the subject's box: :func:`coattention_focus` measures the share of each such word's text←image attention
(:func:`aelab.viz.coattention.word_attention`, one softmax over the region grid per word) that falls inside the
box, against the box's area share of the grid (what an even spread puts there). Function words ("the", "a",
"is", …) carry no picture and are the control. Criterion: subject words ``≥ 2 ×`` area share, function words below.

A comment's figure (:func:`comment_attention_figure`) shows its word maps when they point somewhere and, when every
word spreads its attention evenly, the per-word shares inside the box instead (:func:`word_focus_figure`): an even
map drawn at its own scale is a wash of one colour over the whole image, a picture that shows nothing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from aelab.data.synthetic.recipes import RECIPES
from aelab.errors import ConfigError
from aelab.text import SPECIALS, join_comments, tokenize
from aelab.viz.cam import box_area, box_weights
from aelab.viz.coattention import WordAttention, choose_words, word_attention, word_attention_figure
from aelab.viz.overlays import draw_box, to_hwc

COLOUR_WORDS = frozenset({
    "red", "orange", "yellow", "lime", "green", "teal", "cyan", "turquoise", "blue", "navy", "indigo", "violet",
    "purple", "magenta", "pink", "crimson", "scarlet", "gold", "golden", "brown", "olive", "black", "white", "grey",
    "gray", "dark", "pale", "light",
})
SHAPE_WORDS = frozenset({shape for recipe in RECIPES.values() for shape in recipe.shapes}
                        | {f"{shape}s" for recipe in RECIPES.values() for shape in recipe.shapes})
SUBJECT_WORDS = COLOUR_WORDS | SHAPE_WORDS | {"subject", "subjects"}
"""Words that name a SynthAE subject: the word itself, its colour or its shape (the recipes' shape names, with
plurals)."""

FUNCTION_WORDS = frozenset({
    "the", "a", "an", "is", "are", "was", "it", "its", "this", "that", "of", "and", "or", "but", "to", "in", "on",
    "at", "for", "with", "by", "so", "too", "me", "my", "i", "be", "some", "what", "here",
})
COATTENTION_CRITERION = 2.0
EVEN_SPREAD_FACTOR = 1.5
"""A word whose largest region weight stays below 1.5 × the even weight (1 / regions) points at no place."""


def attention_in_box(attention: WordAttention, box: Sequence[float]) -> np.ndarray:
    """``(T,)`` share of each token's attention that falls inside a normalised box (partial regions count by the
    part of them the box covers, so an even spread gives exactly :func:`aelab.viz.cam.box_area`)."""
    maps = attention.maps.detach().float().cpu().numpy()
    weights = box_weights(box, *maps.shape[-2:])
    totals = maps.sum(axis=(1, 2))
    return (maps * weights).sum(axis=(1, 2)) / np.where(totals > 0, totals, np.nan)


@dataclass(frozen=True)
class WordGroupFocus:
    """One group of words over all comments: ``value`` = mean share of their attention inside the subject box,
    ``chance`` = mean area share of the boxes of the same tokens, ``count`` tokens found."""

    words: str
    value: float
    chance: float
    count: int

    @property
    def ratio(self) -> float:
        return self.value / self.chance if self.count and self.chance > 0 else float("nan")


@dataclass(frozen=True)
class CoAttentionFocus:
    """``subject``: words naming the subject, its colour or its shape; ``function``: function words (the control).
    ``value`` / ``chance``: the subject words' share in the box and its area share. It passes when the subject
    words reach ``criterion`` × their area share and the function words do not."""

    subject: WordGroupFocus
    function: WordGroupFocus
    layer: int
    images: int
    criterion: float = COATTENTION_CRITERION

    @property
    def value(self) -> float:
        return self.subject.value

    @property
    def chance(self) -> float:
        return self.subject.chance

    @property
    def passed(self) -> bool:
        return bool(self.subject.ratio >= self.criterion and not self.function.ratio >= self.criterion)

    def describe(self) -> str:
        if not self.subject.count:
            return (f"co-attention (MTRL layer {self.layer + 1}): no comment of the {self.images} images names the "
                    f"subject, its colour or shape — fail")
        verdict = "pass" if self.passed else "fail"
        function = f"{self.function.ratio:.1f}×" if self.function.count else "none found"
        subject = self.subject
        return (f"co-attention (MTRL layer {self.layer + 1}): subject words put {subject.value:.0%} on the "
                f"subject box ({subject.ratio:.1f}× its area, need ≥ {self.criterion:g}×, {subject.count} words), "
                f"function words {function} — {verdict}")

    def as_dict(self) -> dict:
        """The numbers for a results file: ``value`` (subject words' share in the box), ``chance`` (its area share),
        ``ratio``, ``n`` subject-word tokens, the function words' control, verdict and :meth:`describe`'s line."""
        groups = {name: {"value": group.value, "chance": group.chance, "ratio": group.ratio, "n": group.count}
                  for name, group in (("subject", self.subject), ("function", self.function))}
        return {"value": self.value, "chance": self.chance, "ratio": self.subject.ratio, "n": self.subject.count,
                **groups, "layer": self.layer, "images": self.images, "criterion": self.criterion,
                "passed": self.passed, "description": self.describe()}


def _group(shares: list[float], areas: list[float], words: str) -> WordGroupFocus:
    kept = [(s, a) for s, a in zip(shares, areas) if not np.isnan(s)]
    if not kept:
        return WordGroupFocus(words, float("nan"), float("nan"), 0)
    share, area = np.mean(kept, axis=0)
    return WordGroupFocus(words, float(share), float(area), len(kept))


def coattention_focus_from(attentions: Sequence[WordAttention], boxes: Sequence[Sequence[float]], *,
                           subject_words: Collection[str] = SUBJECT_WORDS,
                           function_words: Collection[str] = FUNCTION_WORDS) -> CoAttentionFocus:
    """The check on attention already computed: one :class:`WordAttention` and one subject box per image."""
    if len(boxes) != len(attentions):
        raise ConfigError("boxes", f"{len(boxes)} boxes", f"one subject box per comment ({len(attentions)})")
    groups = {"subject": ([], []), "function": ([], [])}
    wanted = {"subject": set(subject_words), "function": set(function_words)}
    for attention, box in zip(attentions, boxes):
        shares, area = attention_in_box(attention, box), box_area(box)
        for position, word in enumerate(attention.words):
            for name, words in wanted.items():
                if word in words:
                    groups[name][0].append(float(shares[position]))
                    groups[name][1].append(area)
    layer = attentions[0].layer if attentions else -1
    return CoAttentionFocus(_group(*groups["subject"], "subject"), _group(*groups["function"], "function"), layer,
                            len(attentions))


def coattention_focus(model: nn.Module, images: torch.Tensor, comments: Sequence[str],
                      boxes: Sequence[Sequence[float]], *, layer: int = -1, **words) -> CoAttentionFocus:
    """The check on an image–text model with co-attention: ``images`` ``(B, 3, H, W)`` normalised as it expects,
    one comment string and one normalised subject box per image; ``layer``: the MTRL layer (default the last);
    ``subject_words`` / ``function_words`` as in :func:`coattention_focus_from`."""
    if len(comments) != len(images):
        raise ConfigError("comments", f"{len(comments)} comments", f"one comment string per image ({len(images)})")
    try:
        attentions = [word_attention(model, image, comment, layer) for image, comment in zip(images, comments)]
    except ValueError as error:
        raise ConfigError("model", type(model).__name__, f"an image-text model with co-attention ({error})") from None
    return coattention_focus_from(attentions, boxes, **words)


def coattention_focus_of_run(run: str | Path, n: int = 200, *, seed: int = 0,
                             comments: Sequence[str] | None = None, **options) -> CoAttentionFocus:
    """:func:`coattention_focus` of a trained image–text run on ``n`` held-out SynthAE images, with their own
    comments (joined as in training) unless ``comments`` gives one string per image."""
    from aelab.viz.faithfulness_cam import held_out

    loaded, data = held_out(run, n, seed)
    if comments is None:
        comments = [join_comments(s.labels.get("comments")) for s in data.samples]
    return coattention_focus(loaded.model, data.images, comments, data.boxes, **options)


def attention_spread(attention: WordAttention) -> tuple[float, float]:
    """``(largest weight of any word on any region, 1 / regions)``: the second is what every region gets when a
    word spreads its attention evenly (NaN for a comment without tokens)."""
    maps = attention.maps
    if not maps.numel():
        return float("nan"), float("nan")
    return float(maps.max()), 1.0 / maps[0].numel()


def attention_title(attention: WordAttention, box: Sequence[float] | None = None, maps_drawn: bool = True) -> str:
    """A title for one comment's co-attention figure: its largest weight against an even spread and, when the
    subject ``box`` is known, this comment's check (:func:`coattention_focus_from`). When no word reaches
    :data:`EVEN_SPREAD_FACTOR` × the even weight the title opens by saying so: that the maps show no place, or
    (``maps_drawn=False``, :func:`word_focus_figure`) that bars are drawn in their stead."""
    peak, even = attention_spread(attention)
    spread = f"largest weight {peak:.2f} vs {even:.2f} for an even spread"
    check = [coattention_focus_from([attention], [box]).describe()] if box is not None else []
    if shows_a_place(attention):
        return "; ".join([*check, spread])
    instead = ("these maps show no place" if maps_drawn else
               "no map is drawn, the bars give each word's share of attention inside the subject box")
    return "; ".join([f"every word spreads its attention almost evenly ({spread}): {instead}", *check])


def shows_a_place(attention: WordAttention) -> bool:
    """Whether some word's largest region weight reaches :data:`EVEN_SPREAD_FACTOR` × the even weight: below that,
    every map is an even wash (and :func:`~aelab.viz.overlays.overlay`, which scales a map to its peak, would paint
    the whole image in the colour of the peak)."""
    peak, even = attention_spread(attention)
    return bool(peak >= EVEN_SPREAD_FACTOR * even)


def word_focus_figure(picture, attention: WordAttention, box: Sequence[float], comment: str = "",
                      title: str | None = None, words: int = 14, inches: float = 2.6) -> Figure:
    """The number behind the maps, drawn: the image with its subject box, and for each of the comment's first
    ``words`` distinct words the share of its attention inside the box (subject words red, function words grey,
    the others blue) against the box's area share (dashed: no preference for the subject) and
    :data:`COATTENTION_CRITERION` × that share (dotted: what the check asks of subject words)."""
    shares, area = attention_in_box(attention, box), box_area(box)
    first = {}
    for position, word in enumerate(attention.words):
        if word not in SPECIALS and word not in first and not np.isnan(shares[position]):
            first[word] = float(shares[position])
    shown = list(first.items())[:words]
    figure, (left, right) = plt.subplots(1, 2, figsize=(inches * 2.6, inches * 1.3),
                                         gridspec_kw={"width_ratios": [1, 1.6]})
    base = to_hwc(picture)
    left.imshow(base)
    draw_box(left, box, *base.shape[:2])
    left.set_title("image, subject box dashed", fontsize=8)
    left.axis("off")
    colours = ["tab:red" if w in SUBJECT_WORDS else "grey" if w in FUNCTION_WORDS else "tab:blue" for w, _ in shown]
    rows = np.arange(len(shown))
    right.barh(rows, [share for _, share in shown], color=colours)
    right.set_yticks(rows, [word for word, _ in shown], fontsize=7)
    right.invert_yaxis()
    right.axvline(area, color="black", linestyle="--", linewidth=1, label=f"box area {area:.0%}: no preference")
    right.axvline(COATTENTION_CRITERION * area, color="black", linestyle=":", linewidth=1,
                  label=f"{COATTENTION_CRITERION:g}× area: the check's bar")
    longest = max([share for _, share in shown] + [COATTENTION_CRITERION * area])
    right.set_xlim(0, min(1.0, 1.3 * longest))
    right.set_xlabel("share of the word's attention inside the box", fontsize=8)
    right.legend(fontsize=6, loc="lower right")
    lines = [textwrap.fill(title, 110)] if title else []
    lines += [f"MTRL layer {attention.layer + 1}: {comment[:110]}"] if comment else []
    if lines:
        figure.suptitle("\n".join(lines), fontsize=8)
    figure.tight_layout()
    return figure


def comment_attention_figure(picture, attention: WordAttention, box: Sequence[float] | None,
                             positions: Sequence[int], comment: str = "") -> tuple[Figure, str]:
    """One comment's co-attention as a person can read it, and its title (:func:`attention_title`): the word maps
    (:func:`aelab.viz.coattention.word_attention_figure`) when they show a place (:func:`shows_a_place`) or no
    subject box is known; otherwise, the maps being even washes, :func:`word_focus_figure` in their stead."""
    if box is None or shows_a_place(attention):
        title = attention_title(attention, box)
        return word_attention_figure(picture, attention, positions, comment, title=title), title
    title = attention_title(attention, box, maps_drawn=False)
    return word_focus_figure(picture, attention, box, comment, title=title), title


def naming_first(comments: Sequence[str], count: int, words: Collection[str] = SUBJECT_WORDS) -> list[int]:
    """Indices of ``count`` comments to draw: those holding one of ``words`` (the ones the check reads) first, in
    order, then the others."""
    wanted = set(words)
    naming = [i for i, comment in enumerate(comments) if wanted & set(tokenize(comment))]
    return (naming + [i for i in range(len(comments)) if i not in set(naming)])[:count]


def shown_words(attention: WordAttention, count: int = 5, words: Sequence[str] | None = None) -> list[int]:
    """Token positions to draw: those of ``words`` when given (:func:`aelab.viz.coattention.choose_words`), else
    the first of each subject word in the comment, filled up with the most focused other words."""
    if words:
        return choose_words(attention, count, words)
    subject, seen = [], set()
    for position, word in enumerate(attention.words):
        if word in SUBJECT_WORDS and word not in seen:
            seen.add(word)
            subject.append(position)
    others = [p for p in choose_words(attention, count) if attention.words[p] not in seen]
    return sorted((subject + others)[:count])
