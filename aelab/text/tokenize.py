"""A simple word tokenizer for viewer comments: lower-cased words, numbers and apostrophe forms.

A sample's comments travel through the data loader as one string (:func:`join_comments`), the comments joined by
:data:`COMMENT_SEPARATOR`, so that PyTorch's default collate turns a batch of them into a list of strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

COMMENT_SEPARATOR = " | "
"""Between two comments of one image; the tokenizer turns it into the ``<sep>`` token."""

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|\|")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``; a ``|`` (comment boundary) stays a token of its own."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def join_comments(comments: Sequence[str] | str | None) -> str:
    """One string for an image's comments (``""`` when it has none); ``|`` inside a comment becomes a space."""
    if comments is None:
        return ""
    if isinstance(comments, str):
        comments = [comments]
    cleaned = (" ".join(c.replace("|", " ").split()) for c in comments)
    return COMMENT_SEPARATOR.join(c for c in cleaned if c)
