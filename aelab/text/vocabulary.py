"""The word vocabulary of an image–text model, built from the training split's comments (paper 002, §3 text side).

Index 0 is padding, 1 an unknown word, 2 the *empty-text* token that stands for an image without comments (so the
text side always has one token to attend to), 3 the boundary between two comments. Words follow by decreasing
count (ties alphabetical), so the same comments always give the same vocabulary.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from aelab.errors import DataFormatError
from aelab.text.tokenize import tokenize

PAD, UNK, EMPTY, SEP = "<pad>", "<unk>", "<empty>", "<sep>"
SPECIALS: tuple[str, ...] = (PAD, UNK, EMPTY, SEP)


class Vocabulary:
    """Tokens ↔ indices; :meth:`encode` turns a batch of comment strings into padded index tensors."""

    def __init__(self, words: Sequence[str] = ()):
        words = [w for w in words if w not in SPECIALS]
        if len(set(words)) != len(words):
            duplicated = sorted({w for w in words if words.count(w) > 1})
            raise ValueError(f"vocabulary words must be distinct; repeated: {duplicated[:10]}")
        self.tokens: list[str] = [*SPECIALS, *words]
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, max_words: int | None = None) -> Vocabulary:
        """The words of ``texts`` seen at least ``min_count`` times, the ``max_words`` most frequent."""
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count!r}")
        counts = Counter(t for text in texts for t in tokenize(text) if t != "|")
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(ranked[:max_words] if max_words else ranked)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """A vocabulary file: one token per line, the four special tokens first (as :meth:`save` writes it)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} not found (expected one token per line)")
        lines = path.read_text(encoding="utf-8").splitlines()
        if tuple(lines[:len(SPECIALS)]) != SPECIALS:
            raise DataFormatError(path, f"expected the special tokens {list(SPECIALS)} on lines 1-{len(SPECIALS)}, "
                                  f"found {lines[:len(SPECIALS)]}", line=1)
        for number, word in enumerate(lines[len(SPECIALS):], len(SPECIALS) + 1):
            if not word or word.split() != [word]:
                raise DataFormatError(path, f"expected one token without spaces, found {word!r}", line=number)
        return cls(lines[len(SPECIALS):])

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text("".join(f"{t}\n" for t in self.tokens), encoding="utf-8")
        return path

    @property
    def words(self) -> list[str]:
        """The tokens after the special ones (what ``Vocabulary(words)`` takes back)."""
        return self.tokens[len(SPECIALS):]

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, text: str, max_tokens: int) -> list[int]:
        """Indices of ``text``'s first ``max_tokens`` tokens; ``[<empty>]`` for a text without words."""
        unknown = self.index[UNK]
        ids = [self.index[SEP] if t == "|" else self.index.get(t, unknown) for t in tokenize(text)][:max_tokens]
        while ids and ids[-1] == self.index[SEP]:
            ids.pop()
        return ids or [self.index[EMPTY]]

    def encode(self, texts: Sequence[str], max_tokens: int, device: torch.device | str | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens, padding)`` for a batch: ``(B, T)`` long indices padded with 0 to the longest text (at most
        ``max_tokens``) and a ``(B, T)`` bool mask, True at padding (``key_padding_mask`` convention)."""
        rows = [self.ids(t, max_tokens) for t in texts]
        length = max((len(r) for r in rows), default=1)
        tokens = torch.zeros(len(rows), length, dtype=torch.long)
        for i, row in enumerate(rows):
            tokens[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        tokens = tokens.to(device) if device is not None else tokens
        return tokens, tokens == self.index[PAD]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]
