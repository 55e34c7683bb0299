"""The co-attention figures say what they show: the comment's own subject-word share against the box area, the
largest weight against an even spread (and that the maps show no place when every word spreads evenly), with
comments that name the subject drawn first."""

import pytest
import torch
from test_viz_faithfulness_cam import TOP_LEFT, hand_attention

from aelab.viz.coattention import word_attention_figure
from aelab.viz.faithfulness_text import (SUBJECT_WORDS, attention_spread, attention_title, coattention_focus_from,
                                         naming_first, shown_words)


def test_a_flat_attention_is_titled_as_showing_no_place():
    flat = hand_attention(["the", "subject", "is", "cut"], set())
    assert attention_spread(flat) == (0.25, 0.25)
    title = attention_title(flat, TOP_LEFT)
    assert title.startswith("every word spreads its attention almost evenly (largest weight 0.25 vs 0.25")
    assert "these maps show no place" in title and "1.0× its area" in title and title.endswith("fail")


def test_a_focused_attention_is_titled_with_its_share_and_verdict():
    focused = hand_attention(["the", "subject", "is", "cut"], {"subject"})
    title = attention_title(focused, TOP_LEFT)
    assert "no place" not in title and "4.0× its area" in title and "pass" in title
    assert title.endswith("largest weight 1.00 vs 0.25 for an even spread")
    assert attention_title(focused) == "largest weight 1.00 vs 0.25 for an even spread"  # no box: no check


def test_the_word_subject_names_the_subject():
    assert "subject" in SUBJECT_WORDS
    result = coattention_focus_from([hand_attention(["the", "subject", "is", "cut"], {"subject"})], [TOP_LEFT])
    record = result.as_dict()
    assert record["n"] == 1 and record["value"] == 1.0 and record["chance"] == 0.25 and record["ratio"] == 4.0
    assert record["function"]["n"] == 2 and record["function"]["ratio"] == pytest.approx(1.0)
    assert record["passed"] is True and record["description"] == result.describe()


def test_comments_that_name_the_subject_are_drawn_first():
    comments = ["Tack sharp.", "The subject is cut off.", "Great shot!", "A red triangle."]
    assert naming_first(comments, 3) == [1, 3, 0]
    assert naming_first(comments[:1], 3) == [0]


def test_subject_words_are_shown_first_then_the_most_focused():
    attention = hand_attention(["great", "shot", "the", "subject", "is", "cut", "subject"], {"great"})
    assert shown_words(attention, 2) == [0, 3]  # "subject" once, then the most focused other word
    assert shown_words(attention, 3, ["cut"]) == [5]


def test_the_figure_carries_the_title_above_the_comment():
    attention = hand_attention(["the", "subject"], {"subject"})
    figure = word_attention_figure(torch.rand(3, 16, 16), attention, [1], "the subject", title="a number: 4.0×")
    assert figure.get_suptitle().splitlines() == ["a number: 4.0×", "MTRL layer 1: the subject"]

