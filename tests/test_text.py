"""Comment text: tokenizer, vocabulary (built from training comments, saved and loaded), word vector files."""

import pytest
import torch

from aelab.errors import DataFormatError
from aelab.text import EMPTY, PAD, SEP, SPECIALS, UNK, Vocabulary, join_comments, read_word_vectors, tokenize


def test_tokenize_and_join():
    assert tokenize("Tack SHARP, isn't it? 10/10!") == ["tack", "sharp", "isn't", "it", "10", "10"]
    assert join_comments(["Nice | light", "  ", "Wow"]) == "Nice light | Wow"
    assert join_comments(None) == "" and join_comments([]) == ""
    assert tokenize(join_comments(["a b", "c"])) == ["a", "b", "|", "c"]


def test_vocabulary_is_frequency_ordered_deterministic_and_capped():
    texts = ["great shot", "great colours | weak shot", "great"]
    vocabulary = Vocabulary.build(texts)
    assert vocabulary.tokens[:4] == list(SPECIALS)
    assert vocabulary.words == ["great", "shot", "colours", "weak"]  # by count, ties alphabetical; no "|"
    assert Vocabulary.build(texts, min_count=2).words == ["great", "shot"]
    assert Vocabulary.build(texts, max_words=1).words == ["great"]
    with pytest.raises(ValueError, match="distinct"):
        Vocabulary(["a", "a"])


def test_encode_pads_masks_truncates_and_marks_empty_text():
    vocabulary = Vocabulary(["great", "shot"])
    tokens, padding = vocabulary.encode(["great shot | odd", "", "shot"], max_tokens=4)
    index = vocabulary.index
    assert tokens.tolist() == [[index["great"], index["shot"], index[SEP], index[UNK]],
                               [index[EMPTY], 0, 0, 0], [index["shot"], 0, 0, 0]]
    assert padding.tolist() == [[False] * 4, [False, True, True, True], [False, True, True, True]]
    assert index[PAD] == 0
    assert vocabulary.encode(["great shot great shot"], max_tokens=2)[0].shape == (1, 2)
    assert vocabulary.ids("great |", 5) == [index["great"]]  # no trailing separator


def test_vocabulary_file_round_trip_and_bad_files(tmp_path):
    vocabulary = Vocabulary(["great", "shot"])
    path = vocabulary.save(tmp_path / "vocabulary.txt")
    assert Vocabulary.load(path).tokens == vocabulary.tokens
    (tmp_path / "bad.txt").write_text("great\nshot\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt, line 1: expected the special tokens"):
        Vocabulary.load(tmp_path / "bad.txt")
    (tmp_path / "bad.txt").write_text("".join(f"{t}\n" for t in SPECIALS) + "ok\ntwo words\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt, line 6: expected one token without spaces"):
        Vocabulary.load(tmp_path / "bad.txt")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        Vocabulary.load(tmp_path / "missing.txt")


def test_word_vectors_in_glove_and_word2vec_text_format(tmp_path):
    vocabulary = Vocabulary(["great", "shot", "rare"])
    glove = tmp_path / "glove.txt"
    glove.write_text("Great 1 2 3\nshot 4 5 6\nother 7 8 9\ngreat 0 0 0\n")
    vectors, found = read_word_vectors(glove, vocabulary)
    assert vectors.shape == (len(vocabulary), 3)
    assert vectors[vocabulary.index["great"]].tolist() == [1, 2, 3]  # first occurrence, matched lower-cased
    assert found.tolist() == [False] * 4 + [True, True, False]
    word2vec = tmp_path / "w2v.txt"
    word2vec.write_text("2 2\ngreat 0.5 -1\nshot 1e-1 2\n")
    shot = read_word_vectors(word2vec, vocabulary)[0][vocabulary.index["shot"]]
    assert torch.allclose(shot, torch.tensor([0.1, 2.0]))


@pytest.mark.parametrize("text, message", [
    ("great 1 2 3\nshot 4 5\n", r"line 2: expected 3 numbers after the word"),
    ("great 1 x 3\n", r"line 1: expected 3 numbers after the word 'great'"),
    ("\n", r"expected at least one 'word v1 \.\.\. vd' line"),
])
def test_bad_word_vector_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "vectors.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_word_vectors(path, Vocabulary(["great", "shot"]))
