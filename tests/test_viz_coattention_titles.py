"""The co-attention figures say what they show: the comment's own subject-word share against the box area, the
largest weight against an even spread (and that the maps show no place when every word spreads evenly), with
comments that name the subject drawn first; even maps are replaced by each word's share inside the box."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from test_viz_faithfulness_cam import TOP_LEFT, hand_attention

from aelab.viz.coattention import WordAttention, word_attention_figure
from aelab.viz.faithfulness_text import (SUBJECT_WORDS, attention_spread, attention_title, coattention_focus_from,
                                         comment_attention_figure, naming_first, shows_a_place, shown_words)


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


def bars(figure):
    """``{word: bar length}`` and the vertical lines' positions of a word-focus figure's bar panel."""
    panel = figure.axes[1]
    words = [label.get_text() for label in panel.get_yticklabels()]
    lengths = [patch.get_width() for patch in panel.patches]
    return dict(zip(words, lengths)), sorted(float(line.get_xdata()[0]) for line in panel.lines)


def test_even_maps_are_replaced_by_each_words_share_inside_the_box():
    words = ["the", "red", "triangle", "is", "the", "end"]
    maps = torch.full((6, 2, 2), 0.25)
    maps[1] = torch.tensor([[0.3, 0.25], [0.25, 0.2]])  # "red" leans a little towards the box, still near even
    flat = WordAttention(words, maps, 0)
    assert not shows_a_place(flat)
    figure, title = comment_attention_figure(torch.rand(3, 16, 16), flat, TOP_LEFT, [1, 2], "the red triangle")
    shares, lines = bars(figure)
    assert list(shares) == ["the", "red", "triangle", "is", "end"]  # each word once, in the comment's order
    assert shares["red"] == pytest.approx(0.3) and shares["the"] == pytest.approx(0.25)
    assert lines == pytest.approx([0.25, 0.5])  # the box's area share and the check's 2× bar
    colours = {w: tuple(np.round(p.get_facecolor(), 3)) for w, p in zip(shares, figure.axes[1].patches)}
    assert colours["red"] == colours["triangle"] != colours["the"] == colours["is"] != colours["end"]
    assert title.startswith("every word spreads its attention almost evenly (largest weight 0.30 vs 0.25")
    assert "no map is drawn, the bars give each word's share" in title and "1.1× its area" in title
    assert figure.get_suptitle().replace("\n", " ").startswith(title) and len(figure.axes) == 2
    plt.close(figure)


def test_maps_that_show_a_place_are_drawn_as_maps_and_without_a_box_too():
    focused = hand_attention(["the", "subject"], {"subject"})
    assert shows_a_place(focused)
    figure, title = comment_attention_figure(torch.rand(3, 16, 16), focused, TOP_LEFT, [1], "the subject")
    assert title == attention_title(focused, TOP_LEFT)
    assert len(figure.axes) == 2 and figure.axes[1].get_title() == "'subject' (1.00)"  # image + one word map
    plt.close(figure)
    flat = hand_attention(["the", "subject"], set())
    figure, title = comment_attention_figure(torch.rand(3, 16, 16), flat, None, [1], "the subject")
    # no box to measure: the maps, titled as even
    assert figure.axes[1].get_title() == "'subject' (0.25)" and "these maps show no place" in title
    plt.close(figure)
