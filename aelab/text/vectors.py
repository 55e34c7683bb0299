"""Pretrained word vectors from a text file in the GloVe / word2vec text format (paper 002 starts from
pretrained word embeddings; any such file works: GloVe, fastText ``.vec``, word2vec saved as text).

Each line is ``word v1 v2 … vd``; a first line of two integers (``count dim``, the word2vec header) is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from aelab.errors import DataFormatError
from aelab.text.vocabulary import Vocabulary


def read_word_vectors(path: str | os.PathLike, vocabulary: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
    """``(vectors, found)``: a ``(len(vocabulary), d)`` float tensor holding the file's vector of every vocabulary
    word it contains (zeros elsewhere) and a bool ``(len(vocabulary),)`` mask of the rows found. Words are matched
    lower-cased; the file's first occurrence wins. A line with a different dimension or a non-number raises
    :class:`~aelab.errors.DataFormatError` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word vector file {path} not found (expected GloVe/word2vec text format: "
                                f"'word v1 v2 ... vd' per line)")
    rows: dict[int, list[float]] = {}
    dim = None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip().split(" ")
            if not line.strip():
                continue
            if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                continue  # word2vec header "count dim"
            if len(fields) < 2:
                raise DataFormatError(path, f"expected 'word v1 ... vd', found {len(fields)} field", line=number)
            if dim is None:
                dim = len(fields) - 1
            elif len(fields) - 1 != dim:
                raise DataFormatError(path, f"expected {dim} numbers after the word (as on the first vector "
                                      f"line), found {len(fields) - 1}", line=number)
            index = vocabulary.index.get(fields[0].lower())
            if index is None or index in rows:
                continue
            try:
                rows[index] = [float(v) for v in fields[1:]]
            except ValueError:
                raise DataFormatError(path, f"expected {dim} numbers after the word {fields[0]!r}",
                                      line=number) from None
    if dim is None:
        raise DataFormatError(path, "expected at least one 'word v1 ... vd' line, found none")
    vectors = torch.zeros(len(vocabulary), dim)
    found = torch.zeros(len(vocabulary), dtype=torch.bool)
    for index, values in rows.items():
        vectors[index] = torch.tensor(values)
        found[index] = True
    return vectors, found
