"""FI layout (docs/science.md §2.1): emotion_dataset/<emotion>/<file>.jpg."""

import warnings

import pytest
from format_fixtures import synth_samples, write_images, write_text

from aelab.data.formats import read_dataset, write_dataset
from aelab.errors import DataFormatError, DatasetNotFoundError, MissingImagesError
from aelab.tasks import EMOTIONS


@pytest.fixture
def fi_root(tmp_path):
    base = tmp_path / "FI" / "emotion_dataset"
    write_images(base / "amusement", ["amusement_1.jpg", "amusement_2.jpg"])
    write_images(base / "fear", ["fear_1.jpg"])
    write_images(base / "sadness", ["sadness_7.jpg"])
    write_text(base / "fear" / "notes.txt", "not an image, ignored")
    return tmp_path / "FI"


def test_reads_folder_names_as_emotions_and_valence(fi_root):
    samples = read_dataset("fi", fi_root)
    got = {s.id: (s.labels["emotion"], s.labels["sentiment"]) for s in samples}
    assert got == {
        "amusement/amusement_1": (0, 1), "amusement/amusement_2": (0, 1),
        "fear/fear_1": (6, 0), "sadness/sadness_7": (7, 0),
    }
    assert all(s.image.exists() for s in samples)


def test_root_may_be_the_emotion_dataset_folder(fi_root):
    assert len(read_dataset("fi", fi_root / "emotion_dataset")) == 4


def test_unknown_folder_is_named_with_the_expected_names(fi_root):
    write_images(fi_root / "emotion_dataset" / "happiness", ["h.jpg"])
    with pytest.raises(DataFormatError, match=r"happiness.*unknown emotion folder 'happiness'; expected one of: amusement, anger"):
        read_dataset("fi", fi_root)


def test_missing_root_and_wrong_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"fi data set root .*nowhere is not a folder"):
        read_dataset("fi", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="holds neither emotion_dataset/"):
        read_dataset("fi", tmp_path / "empty")


def test_unreadable_placeholder_is_skipped_with_one_warning(fi_root):
    write_text(fi_root / "emotion_dataset" / "awe" / "awe_1.jpg", "placeholder, not a JPEG")
    write_text(fi_root / "emotion_dataset" / "awe" / "awe_2.jpg", "another placeholder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = read_dataset("fi", fi_root)
    assert len(caught) == 1
    assert "2 of 6 listed images skipped (0 missing, 2 unreadable)" in str(caught[0].message)
    assert "awe_1.jpg" in str(caught[0].message)
    assert {s.id for s in samples} == {"amusement/amusement_1", "amusement/amusement_2", "fear/fear_1", "sadness/sadness_7"}
    with pytest.raises(MissingImagesError, match=r"2 of 6 listed images are missing or unreadable: .*awe_1.jpg"):
        read_dataset("fi", fi_root, strict=True)


def test_round_trip(tmp_path):
    samples = synth_samples(10)
    root = write_dataset(samples, tmp_path / "out", "fi")
    assert (root / "emotion_dataset" / EMOTIONS[3] / "synth-003.jpg").exists()
    back = {s.id.split("/")[1]: s.labels for s in read_dataset("fi", root)}
    assert back == {s.id: {"emotion": s.labels["emotion"], "sentiment": s.labels["sentiment"]} for s in samples}


def test_writer_refuses_samples_without_emotion(tmp_path):
    samples = synth_samples(2)
    del samples[1].labels["emotion"]
    with pytest.raises(ValueError, match="stores emotion for every image; 1 samples lack it: synth-001"):
        write_dataset(samples, tmp_path, "fi")
