"""UAE layout (docs/science.md §2.1): images/<index>.jpg, {split}_{aes,emo}_list.txt, optional scores.h5."""

import h5py
import numpy as np
import pytest
from format_fixtures import pick, synth_samples, write_images, write_text

from aelab.data.formats import read_dataset, write_dataset
from aelab.data.formats.uae import IAE_ORDER
from aelab.errors import DataFormatError, DatasetNotFoundError, UnknownNameError


@pytest.fixture
def uae_root(tmp_path):
    root = tmp_path / "UAE"
    write_images(root / "images", [f"{i}.jpg" for i in range(6)])
    write_text(root / "train_aes_list.txt", "0 1\n1 0\n2 1\n")
    write_text(root / "train_emo_list.txt", "0 3\n1 7\n")  # image 2 has only an aesthetic label
    write_text(root / "val_aes_list.txt", "3 0\n")
    write_text(root / "val_emo_list.txt", "3 1\n")
    write_text(root / "test_aes_list.txt", "4.jpg 1\n")  # an id written as a file name
    write_text(root / "test_emo_list.txt", "4 0\n5 6\n")  # image 5 has only an emotion label
    return root


def test_reads_official_lists_and_splits(uae_root):
    samples = read_dataset("uae", uae_root)
    assert [s.id for s in samples] == ["0", "1", "2", "3", "4", "5"]
    assert [s.labels for s in samples] == [
        {"aesthetic": 1, "emotion": 3}, {"aesthetic": 0, "emotion": 7}, {"aesthetic": 1},
        {"aesthetic": 0, "emotion": 1}, {"aesthetic": 1, "emotion": 0}, {"emotion": 6},
    ]
    assert [s.meta["split"] for s in samples] == ["train"] * 3 + ["val", "test", "test"]
    assert [s.id for s in read_dataset("uae", uae_root, split="val")] == ["3"]


def test_emotion_order_converts_codes_to_fi(uae_root):
    samples = read_dataset("uae", uae_root, split="train", emotion_order=IAE_ORDER)
    # code 3 = contentment (FI 3), code 7 = sad (FI 7); check a code that moves: val code 1 = excitement (FI 5)
    assert [s.labels.get("emotion") for s in samples] == [3, 7, None]
    assert read_dataset("uae", uae_root, split="val", emotion_order=IAE_ORDER)[0].labels["emotion"] == 5
    with pytest.raises(ValueError, match="emotion_order must name each of amusement"):
        read_dataset("uae", uae_root, emotion_order=("joy",) * 8)


def test_scores_h5_gives_mean_of_ten_raters(uae_root):
    scores = np.tile(np.array([[7, 7, 7, 7, 7, 4, 4, 4, 10, 10, 67]], float), (6, 1))
    scores[2, :10] = 1
    with h5py.File(uae_root / "scores.h5", "w") as h5:
        h5["score"] = scores
    samples = read_dataset("uae", uae_root)
    assert samples[0].labels["aesthetic_score"] == pytest.approx(6.7)
    assert samples[2].labels["aesthetic_score"] == pytest.approx(1.0)
    assert samples[0].meta["ratings"] == [7, 7, 7, 7, 7, 4, 4, 4, 10, 10]
    # another key: the only 2-D dataset is used; two of them is an error
    with h5py.File(uae_root / "scores.h5", "w") as h5:
        h5["raters"], h5["ids"] = scores, np.arange(6)
    assert read_dataset("uae", uae_root)[0].labels["aesthetic_score"] == pytest.approx(6.7)
    with h5py.File(uae_root / "scores.h5", "w") as h5:
        h5["a"], h5["b"] = scores, scores
    with pytest.raises(DataFormatError, match=r"scores\.h5: no dataset 'score' and 2 2-D datasets"):
        read_dataset("uae", uae_root)
    with h5py.File(uae_root / "scores.h5", "w") as h5:
        h5["score"] = scores[:3]
    with pytest.raises(DataFormatError, match="has 3 rows of scores; image 3 has none"):
        read_dataset("uae", uae_root)
    write_text(uae_root / "scores.h5", "not hdf5")
    with pytest.raises(DataFormatError, match=r"scores\.h5: not a readable HDF5 file"):
        read_dataset("uae", uae_root)


def test_missing_root_split_lists_and_unknown_split(uae_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="uae data set root .*absent"):
        read_dataset("uae", tmp_path / "absent")
    with pytest.raises(UnknownNameError, match="unknown uae split 'dev'"):
        read_dataset("uae", uae_root, split="dev")
    (uae_root / "val_aes_list.txt").unlink()
    (uae_root / "val_emo_list.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"the val split has no label list: expected .*val_aes_list\.txt or .*val_emo_list\.txt"):
        read_dataset("uae", uae_root)
    assert len(read_dataset("uae", uae_root, split="train")) == 3


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("train_aes_list.txt", "0 1\n1\n", r"train_aes_list\.txt, line 2: expected 2 fields \(IMAGE_ID AES_LABEL\), found 1"),
        ("train_emo_list.txt", "0 3 1\n", r"train_emo_list\.txt, line 1: expected 2 fields .*found 3"),
        ("train_aes_list.txt", "abc 1\n", r"line 1: IMAGE_ID must be a non-negative integer image index, found 'abc'"),
        ("train_aes_list.txt", "../0.jpg 1\n", r"line 1: IMAGE_ID must be a non-negative integer image index, found '\.\./0\.jpg'"),
        ("train_aes_list.txt", "0 high\n", r"line 1: aesthetic label must be an integer, found 'high'"),
        ("train_aes_list.txt", "0 2\n", r"line 1: aesthetic label out of range: expected 0\.\.1, found 2"),
        ("train_emo_list.txt", "0 3\n1 8\n", r"train_emo_list\.txt, line 2: emotion label out of range: expected 0\.\.7, found 8"),
        ("test_aes_list.txt", "0 1\n", r"test_aes_list\.txt, line 1: image 0 already has split = 'train' from .*train_aes_list\.txt, line 1; this line says 'test'"),
    ],
)
def test_bad_label_lines(uae_root, name, text, message):
    write_text(uae_root / name, text)
    with pytest.raises(DataFormatError, match=message):
        read_dataset("uae", uae_root)


def test_missing_and_unreadable_images(uae_root):
    (uae_root / "images" / "4.jpg").unlink()
    write_text(uae_root / "images" / "1.jpg", "text")
    with pytest.warns(UserWarning, match=r"2 of 6 listed images skipped \(1 missing, 1 unreadable\): .*1\.jpg, .*4\.jpg"):
        assert [s.id for s in read_dataset("uae", uae_root)] == ["0", "2", "3", "5"]


def test_round_trip_keeps_labels_scores_and_split(tmp_path):
    samples = synth_samples(10)
    root = write_dataset(samples, tmp_path / "uae", "uae", seed=3, emotion_order=IAE_ORDER)
    assert sorted(p.name for p in root.glob("*_list.txt")) == sorted(f"{p}_{k}_list.txt" for p in ("train", "val", "test") for k in ("aes", "emo"))
    back = read_dataset("uae", root, emotion_order=IAE_ORDER)
    assert [s.id for s in back] == [str(i) for i in range(10)]
    assert pick(back, "aesthetic", "emotion") == pick(samples, "aesthetic", "emotion")
    assert [s.labels["aesthetic_score"] for s in back] == pytest.approx([s.labels["aesthetic_score"] for s in samples])
    assert [s.meta["ratings"] for s in back] == [s.meta["ratings"] for s in samples]
    assert sorted(s.meta["split"] for s in back).count("train") == 7
    # the emotion codes on disk really are in the chosen order (FI 5 excitement = IAE code 1)
    again = write_dataset(back, tmp_path / "uae2", "uae")  # split kept from meta, FI codes
    assert [s.meta["split"] for s in read_dataset("uae", again)] == [s.meta["split"] for s in back]
    assert "5 5" in (again / f"{back[5].meta['split']}_emo_list.txt").read_text()
    assert "5 1" in (root / f"{back[5].meta['split']}_emo_list.txt").read_text()
