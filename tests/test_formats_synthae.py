"""aelab's own SynthAE folder layout: images/<id>.png + labels.jsonl; round-trips exactly."""

import json

import numpy as np
import pytest
from format_fixtures import synth_samples, write_text

from aelab.data.formats import read_dataset, write_dataset
from aelab.errors import DataFormatError, DatasetNotFoundError, MissingImagesError


def test_exact_round_trip(tmp_path):
    samples = synth_samples(6)
    samples[1].meta.update(note=(1, "a"), where=tmp_path, lookup={3: "three"}, count=np.int64(4))
    root = write_dataset(samples, tmp_path / "synth", "synthae")
    back = read_dataset("synthae", root)
    assert [s.id for s in back] == [s.id for s in samples]
    assert [s.labels for s in back] == [s.labels for s in samples]
    assert back[1].meta == samples[1].meta and back[0].meta == samples[0].meta
    for got, want in zip(back, samples):
        assert got.factors["box"] == want.factors["box"] and isinstance(got.factors["box"], tuple)
        assert got.factors["palette"].dtype == np.float32
        assert np.array_equal(got.factors["palette"], want.factors["palette"])
        assert np.array_equal(np.asarray(got.load_image()), np.asarray(want.load_image()))  # PNG is lossless
    assert back[0].image == root / "images" / "synth-000.png"


def test_jpg_option(tmp_path):
    root = write_dataset(synth_samples(2), tmp_path / "s", "synthae", image_format="jpg")
    assert [s.image.name for s in read_dataset("synthae", root)] == ["synth-000.jpg", "synth-001.jpg"]


@pytest.fixture
def synth_root(tmp_path):
    return write_dataset(synth_samples(3), tmp_path / "synth", "synthae")


def replace_line(root, number, record):
    lines = (root / "labels.jsonl").read_text().splitlines()
    lines[number - 1] = record if isinstance(record, str) else json.dumps(record)
    write_text(root / "labels.jsonl", "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "record, message",
    [
        ("{not json", r"labels\.jsonl, line 2: not a JSON object"),
        ({"id": "x", "labels": {}}, r"line 2: record lacks image"),
        ({"id": "x", "image": "images/synth-001.png", "labels": {"beauty": 1}}, r"line 2: unknown label 'beauty'; expected one of: aesthetic"),
        ({"id": "x", "image": "images/synth-001.png", "labels": {"emotion": 9}}, r"line 2: label emotion out of range or of the wrong type: 9"),
        ({"id": "x", "image": "images/synth-001.png", "labels": {"style": [0, 1]}}, r"line 2: label style out of range"),
        ({"id": "x", "image": "images/synth-001.png", "labels": {}, "meta": [1]}, r"line 2: meta must be an object, found list"),
        ({"id": "x", "image": "../../outside.png", "labels": {}}, r"line 2: path '\.\./\.\./outside\.png' points outside the data root"),
    ],
)
def test_bad_records(synth_root, record, message):
    replace_line(synth_root, 2, record)
    with pytest.raises(DataFormatError, match=message):
        read_dataset("synthae", synth_root)


def test_missing_root_and_label_file(tmp_path, synth_root):
    with pytest.raises(DatasetNotFoundError, match="synthae data set root"):
        read_dataset("synthae", tmp_path / "gone")
    (synth_root / "labels.jsonl").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"required label file .*labels\.jsonl does not exist"):
        read_dataset("synthae", synth_root)


def test_missing_and_truncated_images(synth_root):
    (synth_root / "images" / "synth-000.png").unlink()
    data = (synth_root / "images" / "synth-002.png").read_bytes()
    (synth_root / "images" / "synth-002.png").write_bytes(data[:-16])  # header fine, pixel data cut
    with pytest.warns(UserWarning, match=r"1 of 3 listed images skipped \(1 missing, 0 unreadable\): .*synth-000\.png$"):
        assert [s.id for s in read_dataset("synthae", synth_root)] == ["synth-001", "synth-002"]
    with pytest.warns(UserWarning, match=r"2 of 3 listed images skipped \(1 missing, 1 unreadable\): .*synth-002\.png"):
        assert [s.id for s in read_dataset("synthae", synth_root, verify=True)] == ["synth-001"]
    with pytest.raises(MissingImagesError, match=r"2 of 3 listed images are missing or unreadable"):
        read_dataset("synthae", synth_root, strict=True, verify=True)
