"""IAE layout (docs/science.md §2.1): final_aes_emo.h5 (image, one-hot aes, one-hot emo in IAE order), scores.h5."""

import h5py
import numpy as np
import pytest
from format_fixtures import pick, synth_samples, write_images

from aelab.data.formats import read_dataset, write_dataset
from aelab.data.formats.uae import IAE_ORDER
from aelab.errors import DataFormatError, DatasetNotFoundError, MissingImagesError
from aelab.tasks import EMOTIONS


def one_hot(columns, width):
    out = np.zeros((len(columns), width), np.uint8)
    out[np.arange(len(columns)), columns] = 1
    return out


def write_h5(root, image, aes, emo, **extra):
    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / "final_aes_emo.h5", "w") as h5:
        h5["image"], h5["aes"], h5["emo"] = image, aes, emo
        for key, value in extra.items():
            h5[key] = value


@pytest.fixture
def iae_root(tmp_path):
    root = tmp_path / "IAE"
    write_images(root / "images", ["0.jpg", "1.jpg", "2.jpg"])
    names = np.array(["0.jpg", "1.jpg", "2"], dtype=h5py.string_dtype())  # a bare id is found under images/
    # IAE emo columns: 1 = excitement, 5 = anger, 7 = sad
    write_h5(root, names, one_hot([1, 0, 1], 2), one_hot([1, 5, 7], 8))
    return root


def test_one_hot_columns_are_converted_to_fi_order(iae_root):
    samples = read_dataset("iae", iae_root)
    assert [s.id for s in samples] == ["0", "1", "2"]
    assert [s.labels for s in samples] == [
        {"aesthetic": 1, "emotion": EMOTIONS.index("excitement")},
        {"aesthetic": 0, "emotion": EMOTIONS.index("anger")},
        {"aesthetic": 1, "emotion": EMOTIONS.index("sadness")},
    ]
    assert samples[2].image == iae_root / "images" / "2.jpg"


def test_integer_ids_and_in_memory_pixels(tmp_path, iae_root):
    write_h5(iae_root, np.array([2, 0]), one_hot([0, 1], 2), one_hot([0, 3], 8))
    assert [(s.id, s.image.name) for s in read_dataset("iae", iae_root)] == [("2", "2.jpg"), ("0", "0.jpg")]
    pixels = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)
    write_h5(tmp_path / "mem", pixels, one_hot([0, 1], 2), one_hot([2, 4], 8))
    samples = read_dataset("iae", tmp_path / "mem")
    assert np.array_equal(np.asarray(samples[1].load_image()), pixels[1])
    assert [s.labels["emotion"] for s in samples] == [EMOTIONS.index("awe"), EMOTIONS.index("disgust")]


def test_scores(iae_root):
    with h5py.File(iae_root / "scores.h5", "w") as h5:
        h5["score"] = np.array([[1] * 10 + [10], [4] * 10 + [40], [10] * 5 + [7] * 5 + [85]], float)
    assert [s.labels["aesthetic_score"] for s in read_dataset("iae", iae_root)] == pytest.approx([1, 4, 8.5])


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("emo", one_hot([1, 5, 7], 8) * np.array([[1], [2], [1]], np.uint8), r"final_aes_emo\.h5: key 'emo' row 1 is not one-hot: \[0, 0, 0, 0, 0, 2, 0, 0\]"),
        ("aes", np.array([[1, 0], [1, 1], [0, 1]]), r"key 'aes' row 1 is not one-hot: \[1, 1\]"),
        ("aes", np.zeros((3, 3)), r"key 'aes' must be N×2 one-hot, found float64 \(3, 3\)"),
        ("emo", one_hot([1, 5], 8), r"keys image, aes, emo have 3, 3, 2 rows"),
        ("image", np.array(["0.jpg", "../../x.jpg", "2.jpg"], dtype=h5py.string_dtype()), r"path '\.\./\.\./x\.jpg' points outside"),
        ("image", np.zeros((3, 2)), r"key 'image' must hold file names, integer ids or N×H×W×3 uint8 pixels"),
    ],
)
def test_bad_h5_content(iae_root, key, value, message):
    arrays = {"image": np.array(["0.jpg", "1.jpg", "2.jpg"], dtype=h5py.string_dtype()),
              "aes": one_hot([1, 0, 1], 2), "emo": one_hot([1, 5, 7], 8)}
    arrays[key] = value
    write_h5(iae_root, arrays["image"], arrays["aes"], arrays["emo"])
    with pytest.raises(DataFormatError, match=message):
        read_dataset("iae", iae_root)


def test_missing_root_file_and_key(tmp_path, iae_root):
    with pytest.raises(DatasetNotFoundError, match="iae data set root"):
        read_dataset("iae", tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"required label file .*final_aes_emo\.h5 does not exist"):
        read_dataset("iae", tmp_path / "empty")
    with h5py.File(iae_root / "final_aes_emo.h5", "w") as h5:
        h5["image"], h5["emo"] = np.array([0]), one_hot([0], 8)
    with pytest.raises(DataFormatError, match="key 'aes' is missing or not a dataset; found keys: emo, image"):
        read_dataset("iae", iae_root)


def test_missing_image(iae_root):
    (iae_root / "images" / "1.jpg").unlink()
    with pytest.warns(UserWarning, match=r"1 of 3 listed images skipped \(1 missing, 0 unreadable\): .*1\.jpg"):
        assert [s.id for s in read_dataset("iae", iae_root)] == ["0", "2"]
    with pytest.raises(MissingImagesError):
        read_dataset("iae", iae_root, strict=True)


@pytest.mark.parametrize("embed", [False, True])
def test_round_trip(tmp_path, embed):
    samples = synth_samples(9)
    root = write_dataset(samples, tmp_path / "iae", "iae", embed=embed)
    with h5py.File(root / "final_aes_emo.h5") as h5:  # on disk the emo columns follow IAE's order
        assert samples[5].labels["emotion"] == EMOTIONS.index("excitement")
        assert h5["emo"][5].argmax() == IAE_ORDER.index("excitement") == 1
    back = read_dataset("iae", root)
    assert pick(back, "aesthetic", "emotion") == pick(samples, "aesthetic", "emotion")
    assert [s.labels["aesthetic_score"] for s in back] == pytest.approx([s.labels["aesthetic_score"] for s in samples])
    assert all(callable(s.image) if embed else (root / "images" / f"{s.id}.jpg") == s.image for s in back)
    if embed:
        assert np.array_equal(np.asarray(back[4].load_image()), np.asarray(samples[4].load_image()))
