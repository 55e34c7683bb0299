"""Twitter sentiment layout (docs/science.md §2.1): twitter_{five,four,three}_agrees.txt + Agg_AMT_Candidates/."""

import pytest
from format_fixtures import synth_samples, write_images, write_text

from aelab.data.formats import read_dataset, write_dataset
from aelab.errors import DataFormatError, DatasetNotFoundError, MissingImagesError, UnknownNameError


@pytest.fixture
def tw_root(tmp_path):
    root = tmp_path / "twitter"
    write_images(root / "Agg_AMT_Candidates", ["a.jpg", "b.jpg", "c.jpg"])
    write_text(root / "twitter_five_agrees.txt", "a.jpg 1\nb.jpg 0\n")
    write_text(root / "twitter_four_agrees.txt", "a.jpg 1\nb.jpg 0\n\nc.jpg 1\n")
    return root


def test_reads_sentiment_of_the_chosen_subset(tw_root):
    five = read_dataset("twitter", tw_root)
    assert [(s.id, s.labels) for s in five] == [("a", {"sentiment": 1}), ("b", {"sentiment": 0})]
    assert five[0].image == tw_root / "Agg_AMT_Candidates" / "a.jpg"
    four = read_dataset("twitter", tw_root, agree="four")
    assert [(s.id, s.labels["sentiment"], s.meta["agree"]) for s in four] == [("a", 1, "four"), ("b", 0, "four"), ("c", 1, "four")]


def test_missing_root_label_file_and_unknown_subset(tw_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="twitter data set root .*nope"):
        read_dataset("twitter", tmp_path / "nope")
    with pytest.raises(DatasetNotFoundError, match=r"required three-agree label file .*twitter_three_agrees\.txt does not exist"):
        read_dataset("twitter", tw_root, agree="three")
    with pytest.raises(UnknownNameError, match="unknown twitter agreement subset 'two'; expected one of: five, four, three"):
        read_dataset("twitter", tw_root, agree="two")


@pytest.mark.parametrize(
    "text, message",
    [
        ("a.jpg 1\nb.jpg 0 extra\n", r"twitter_five_agrees\.txt, line 2: sentiment label must be an integer, found 'extra'"),
        ("a.jpg\n", r"line 1: expected 2 fields .*found 1"),
        ("a.jpg pos\n", r"line 1: sentiment label must be an integer, found 'pos'"),
        ("a.jpg 1\nb.jpg 2\n", r"line 2: sentiment label out of range: expected 0\.\.1, found 2"),
        ("../secret.jpg 1\n", r"line 1: path '\.\./secret\.jpg' points outside the data root"),
        ("/etc/passwd.jpg 1\n", r"line 1: path '/etc/passwd\.jpg' points outside the data root"),
    ],
)
def test_bad_label_lines(tw_root, text, message):
    write_text(tw_root / "twitter_five_agrees.txt", text)
    with pytest.raises(DataFormatError, match=message):
        read_dataset("twitter", tw_root)


def test_absent_and_unreadable_images(tw_root):
    write_text(tw_root / "Agg_AMT_Candidates" / "d.jpg", "not an image")
    write_text(tw_root / "twitter_five_agrees.txt", "a.jpg 1\ngone.jpg 0\nd.jpg 1\nb.jpg 0\n")
    with pytest.warns(UserWarning, match=r"2 of 4 listed images skipped \(1 missing, 1 unreadable\): .*gone\.jpg, .*d\.jpg"):
        samples = read_dataset("twitter", tw_root)
    assert [s.id for s in samples] == ["a", "b"]
    with pytest.raises(MissingImagesError, match=r"2 of 4 listed images are missing or unreadable: .*gone\.jpg"):
        read_dataset("twitter", tw_root, strict=True)


def test_round_trip_with_agreement_levels(tmp_path):
    samples = synth_samples(6)
    samples[4].meta["agree"] = "four"
    samples[5].meta["agree"] = "three"
    del samples[3].labels["sentiment"]  # falls back to the valence of emotion 3 (contentment: positive)
    root = write_dataset(samples, tmp_path / "tw", "twitter")
    expected = {s.id: int(s.labels.get("sentiment", 1)) for s in samples}
    for agree, ids in [("five", samples[:4]), ("four", samples[:5]), ("three", samples)]:
        back = read_dataset("twitter", root, agree=agree)
        assert {s.id: s.labels["sentiment"] for s in back} == {s.id: expected[s.id] for s in ids}
