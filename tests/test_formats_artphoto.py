"""ArtPhoto layout (docs/science.md §2.1): flat folder, label = file-name prefix (sad → sadness)."""

import pytest
from format_fixtures import synth_samples, write_images, write_text

from aelab.data.formats import read_dataset, write_dataset
from aelab.errors import DataFormatError, DatasetNotFoundError, MissingImagesError


@pytest.fixture
def art_root(tmp_path):
    root = tmp_path / "ArtPhoto"
    write_images(root, ["amusement_1.jpg", "sad_12.jpg", "fear_3.jpg", "excitement_2.JPG"])
    write_text(root / "README.txt", "ignored")
    return root


def test_prefix_is_the_label_and_sad_means_sadness(art_root):
    got = {s.id: (s.labels["emotion"], s.labels["sentiment"]) for s in read_dataset("artphoto", art_root)}
    assert got == {"amusement_1": (0, 1), "sad_12": (7, 0), "fear_3": (6, 0), "excitement_2": (5, 1)}


def test_unknown_prefix_names_file_and_expected_prefixes(art_root):
    write_images(art_root, ["happy_1.jpg"])
    with pytest.raises(DataFormatError, match=r"happy_1\.jpg: unknown file-name prefix 'happy'; expected one of: amusement, .*, fear, sad$"):
        read_dataset("artphoto", art_root)


def test_missing_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="artphoto data set root .*missing"):
        read_dataset("artphoto", tmp_path / "missing")


def test_unreadable_image_warns_or_raises(art_root):
    write_text(art_root / "awe_9.jpg", "text, not a JPEG")
    with pytest.warns(UserWarning, match=r"1 of 5 listed images skipped \(0 missing, 1 unreadable\): .*awe_9\.jpg"):
        samples = read_dataset("artphoto", art_root)
    assert "awe_9" not in {s.id for s in samples} and len(samples) == 4
    with pytest.raises(MissingImagesError, match="awe_9.jpg"):
        read_dataset("artphoto", art_root, strict=True)


def test_round_trip(tmp_path):
    samples = synth_samples(9)
    samples[0].id = "amusement_0"  # already prefixed: not doubled
    root = write_dataset(samples, tmp_path / "art", "artphoto")
    assert (root / "amusement_0.jpg").exists() and (root / "sad_synth-007.jpg").exists()
    back = read_dataset("artphoto", root)
    assert sorted((s.labels["emotion"], s.labels["sentiment"]) for s in back) == sorted(
        (s.labels["emotion"], s.labels["sentiment"]) for s in samples
    )
    assert {s.id: s.labels["emotion"] for s in back}["sad_synth-007"] == 7
