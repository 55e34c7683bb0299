"""Comment text for the image–text model (paper 002, MCN-MTL): tokenizer, vocabulary, pretrained word vectors."""

from aelab.text.tokenize import COMMENT_SEPARATOR, join_comments, tokenize
from aelab.text.vectors import read_word_vectors
from aelab.text.vocabulary import EMPTY, PAD, SEP, SPECIALS, UNK, Vocabulary

__all__ = ["COMMENT_SEPARATOR", "EMPTY", "PAD", "SEP", "SPECIALS", "UNK", "Vocabulary", "join_comments",
           "read_word_vectors", "tokenize"]
