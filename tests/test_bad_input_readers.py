"""Images and label files that used to be read silently wrong: bit depths, transparency, huge or truncated images,
duplicate ids, non-UTF-8 label files, byte-order marks and file names with spaces."""

import io
import json

import numpy as np
import pytest
from format_fixtures import synth_samples, write_images, write_text
from PIL import Image

from aelab.data import TaskDataset
from aelab.data.formats import read_dataset, write_dataset
from aelab.data.images import ImageTooLargeError, check_image, open_rgb
from aelab.data.sample import Sample
from aelab.errors import AelabError, DataFormatError, MissingImagesError

GREY = np.array([[0, 257, 32896, 65535]], np.uint16)
"""16-bit grey levels and their 8-bit values: 0 → 0, 257 → 1, 32896 → 128, 65535 → 255."""
GREY_8 = [0, 1, 128, 255]


def pixels(image):
    assert image.mode == "RGB"
    return np.asarray(image)


# --------------------------------------------------------------------------------------------- modes
def test_16_bit_png_is_scaled_not_saturated(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(GREY).save(path)
    assert Image.open(path).mode == "I;16"
    got = pixels(open_rgb(path))
    assert got[0, :, 0].tolist() == GREY_8 and (got[..., 0] == got[..., 2]).all()


def test_16_bit_pgm_opened_as_mode_i_is_scaled(tmp_path):
    path = tmp_path / "deep.pgm"
    Image.fromarray(GREY).save(path)
    assert Image.open(path).mode == "I"
    assert pixels(open_rgb(path))[0, :, 1].tolist() == GREY_8


@pytest.mark.parametrize(
    "values, expected",
    [([0.0, 0.5, 1.0, np.nan], [0, 128, 255, 0]), ([0.0, 100.0, 255.0, -3.0], [0, 100, 255, 0]),
     ([0.0, 257.0, 32896.0, 65535.0], GREY_8)],
)
def test_float_images_use_the_smallest_standard_range(tmp_path, values, expected):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([values], np.float32)).save(path)
    assert Image.open(path).mode == "F"
    assert pixels(open_rgb(path))[0, :, 0].tolist() == expected


def paletted():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 1
    return image


@pytest.mark.parametrize(
    "make, suffix, expected",
    [
        (lambda: Image.new("RGBA", (2, 1), (10, 20, 30, 0)), "png", [[255, 255, 255], [255, 255, 255]]),
        (lambda: Image.new("RGBA", (2, 1), (0, 0, 0, 128)), "png", [[127, 127, 127]] * 2),
        (lambda: Image.new("LA", (2, 1), (0, 0)), "png", [[255, 255, 255]] * 2),
        (paletted, "png", [[255, 0, 0], [255, 255, 255]]),
        (paletted, "gif", [[255, 0, 0], [255, 255, 255]]),
        (lambda: Image.new("CMYK", (2, 1), (0, 255, 255, 0)), "tif", [[255, 0, 0]] * 2),
        (lambda: Image.new("1", (2, 1), 1), "png", [[255, 255, 255]] * 2),
        (lambda: Image.new("L", (2, 1), 77), "png", [[77, 77, 77]] * 2),
    ],
)
def test_every_mode_becomes_8_bit_rgb(tmp_path, make, suffix, expected):
    path = tmp_path / f"image.{suffix}"
    make().save(path)
    assert pixels(open_rgb(path)).reshape(-1, 3).tolist() == expected


def test_training_items_and_sample_images_use_the_same_conversion(tmp_path):
    root = tmp_path / "tw"
    (root / "Agg_AMT_Candidates").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(root / "Agg_AMT_Candidates" / "white.png")
    Image.fromarray(np.full((8, 8), 8224, np.uint16)).save(root / "Agg_AMT_Candidates" / "dark.png")
    write_text(root / "twitter_five_agrees.txt", "white.png 1\ndark.png 0\n")
    samples = read_dataset("twitter", root, verify=True)
    items = TaskDataset(samples, ["sentiment"])
    assert pixels(items[1]["image"]).max() == 32  # 8224 / 257; Pillow's own conversion gives 255
    assert pixels(Sample("x", {}, Image.fromarray(GREY)).load_image())[0, :, 0].tolist() == GREY_8


# --------------------------------------------------------------------------------------------- huge images
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("limit", [10, 40])  # over twice the limit Pillow raises, between once and twice it warns
def test_an_image_over_the_pixel_limit_is_refused_with_the_setting_to_raise(tmp_path, monkeypatch, limit):
    path = write_images(tmp_path, ["big.png"])[0]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    for check in (open_rgb, check_image):
        with pytest.raises(ImageTooLargeError) as caught:
            check(path)
        message = str(caught.value)
        assert isinstance(caught.value, AelabError) and "\n" not in message
        assert str(path) in message and "64 pixels" in message and f"MAX_IMAGE_PIXELS = {limit}" in message
        assert "set PIL.Image.MAX_IMAGE_PIXELS = 64" in message


def test_a_reader_skips_a_huge_image_instead_of_stopping(tmp_path, monkeypatch):
    root = tmp_path / "tw"
    write_images(root / "Agg_AMT_Candidates", ["a.jpg"])
    Image.new("RGB", (20, 20)).save(root / "Agg_AMT_Candidates" / "huge.png")
    write_text(root / "twitter_five_agrees.txt", "a.jpg 1\nhuge.png 0\n")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    skipped = r"1 of 2 listed images skipped \(0 missing, 1 unreadable\).*huge\.png: image has 400 pixels"
    with pytest.warns(UserWarning, match=skipped):
        assert [s.id for s in read_dataset("twitter", root)] == ["a"]


# --------------------------------------------------------------------------------------------- truncated files
def test_a_truncated_jpeg_is_reported_unreadable_by_name_when_verifying(tmp_path):
    root = tmp_path / "tw"
    a, cut = write_images(root / "Agg_AMT_Candidates", ["a.jpg", "cut.jpg"])
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, "JPEG")
    cut.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    write_text(root / "twitter_five_agrees.txt", "a.jpg 1\ncut.jpg 0\n")
    assert len(read_dataset("twitter", root)) == 2  # the header alone is fine
    with pytest.warns(UserWarning, match=r"1 unreadable\): .*cut\.jpg; first unreadable: .*cut\.jpg: .*truncated"):
        assert [s.id for s in read_dataset("twitter", root, verify=True)] == ["a"]
    with pytest.raises(MissingImagesError, match=r"cut\.jpg"):
        read_dataset("twitter", root, verify=True, strict=True)
    with pytest.raises(DataFormatError, match=r"cut\.jpg: image of sample 'cut' cannot be decoded"):
        Sample("cut", {}, cut).load_image()


# --------------------------------------------------------------------------------------------- duplicate ids
@pytest.fixture
def tw_root(tmp_path):
    root = tmp_path / "twitter"
    write_images(root / "Agg_AMT_Candidates", ["a.jpg", "a.png", "b.jpg", "my photo.jpg"])
    return root


def test_twitter_conflicting_duplicate_names_both_lines_and_labels(tw_root):
    write_text(tw_root / "twitter_five_agrees.txt", "a.jpg 1\nb.jpg 0\na.jpg 0\n")
    conflict = r"twitter_five_agrees\.txt, line 3: 'a\.jpg' is labelled 0 here but 1 on line 1"
    with pytest.raises(DataFormatError, match=conflict):
        read_dataset("twitter", tw_root)
    write_text(tw_root / "twitter_five_agrees.txt", "a.jpg 1\nb.jpg 0\na.png 1\n")
    with pytest.raises(DataFormatError, match=r"line 3: 'a\.png' gives sample id 'a', as 'a\.jpg' on line 1 does"):
        read_dataset("twitter", tw_root)


def test_twitter_identical_duplicate_is_read_once(tw_root):
    write_text(tw_root / "twitter_five_agrees.txt", "a.jpg 1\nb.jpg 0\na.jpg 1\n")
    assert [(s.id, s.labels["sentiment"]) for s in read_dataset("twitter", tw_root)] == [("a", 1), ("b", 0)]


def test_twitter_file_name_with_spaces_is_read(tw_root):
    write_text(tw_root / "twitter_five_agrees.txt", "my photo.jpg 1\nb.jpg\t0\n")
    samples = read_dataset("twitter", tw_root, strict=True)
    assert [(s.id, s.image.name, s.labels["sentiment"]) for s in samples] == [
        ("my photo", "my photo.jpg", 1), ("b", "b.jpg", 0)]


@pytest.fixture
def synth_root(tmp_path):
    return write_dataset(synth_samples(2), tmp_path / "synth", "synthae")


def test_synthae_duplicate_ids(synth_root):
    path = synth_root / "labels.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[0]]) + "\n")
    assert [s.id for s in read_dataset("synthae", synth_root)] == ["synth-000", "synth-001"]
    record = json.loads(lines[0])
    record["labels"]["emotion"] = 5
    path.write_text("\n".join([*lines, json.dumps(record)]) + "\n")
    with pytest.raises(DataFormatError, match=r"labels\.jsonl, line 3: id 'synth-000' is listed again with other "
                                              r"labels: .*'emotion': 5.* here, .*'emotion': 0.* on line 1"):
        read_dataset("synthae", synth_root)


def test_fi_stem_as_jpg_and_png_is_refused(tmp_path):
    write_images(tmp_path / "emotion_dataset" / "awe", ["x.jpg", "x.png", "y.jpg"])
    with pytest.raises(DataFormatError, match=r"awe/x\.png: gives sample id 'awe/x', as .*awe/x\.jpg does"):
        read_dataset("fi", tmp_path)


def test_uae_image_folder_with_one_stem_twice_is_refused(tmp_path):
    write_images(tmp_path / "images", ["0.jpg", "0.png"])
    write_text(tmp_path / "train_aes_list.txt", "0 1\n")
    with pytest.raises(DataFormatError, match=r"images: holds 0\.jpg and 0\.png for image '0'"):
        read_dataset("uae", tmp_path, split="train")


def test_artphoto_jpg_and_jpeg_of_one_name_are_refused(tmp_path):
    write_images(tmp_path, ["awe_1.jpg", "awe_1.jpeg"])
    with pytest.raises(DataFormatError, match=r"awe_1\.jpg: gives sample id 'awe_1', as .*awe_1\.jpeg does"):
        read_dataset("artphoto", tmp_path)


def test_ava_repeated_row_is_read_once_and_style_conflict_names_both_lines(tmp_path):
    write_images(tmp_path / "images", ["7.jpg", "8.jpg"])
    row = "7 0 1 5 0 0 0 0 0 0 0 0 0 1"
    write_text(tmp_path / "AVA.txt", f"1 {row}\n2 8 0 1 5 0 0 0 0 0 0 0 0 0 1\n3 {row}\n")
    assert [s.id for s in read_dataset("ava", tmp_path)] == ["7", "8"]
    write_text(tmp_path / "style_image_lists" / "train.jpgl", "7\n8\n7\n")
    write_text(tmp_path / "style_image_lists" / "train.lab", "2\n3\n4\n")
    conflict = r"train\.lab, line 3: image 7 already has style = .* from line 1; this line says"
    with pytest.raises(DataFormatError, match=conflict):
        read_dataset("ava", tmp_path)


# --------------------------------------------------------------------------------------------- text encodings
def test_non_utf_8_file_name_in_iae_is_refused_by_row(tmp_path):
    import h5py

    with h5py.File(tmp_path / "final_aes_emo.h5", "w") as h5:
        h5["image"] = np.array(["a.jpg".encode(), "café.jpg".encode("latin-1")])
        h5["aes"] = np.eye(2, dtype=np.uint8)
        h5["emo"] = np.eye(8, dtype=np.uint8)[:2]
    not_utf_8 = r"final_aes_emo\.h5: key 'image' row 1: file name b'caf\\xe9\.jpg' is not UTF-8"
    with pytest.raises(DataFormatError, match=not_utf_8):
        read_dataset("iae", tmp_path)


def test_latin_1_label_file_is_refused_by_line(tw_root):
    write_images(tw_root / "Agg_AMT_Candidates", ["café.jpg"])
    (tw_root / "twitter_five_agrees.txt").write_bytes("a.jpg 1\ncafé.jpg 0\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"twitter_five_agrees\.txt, line 2: not UTF-8: byte 0xe9"):
        read_dataset("twitter", tw_root)


def test_latin_1_jsonl_is_refused_by_line(synth_root):
    path = synth_root / "labels.jsonl"
    path.write_bytes(path.read_bytes() + '{"id": "é"}\n'.encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"labels\.jsonl, line 3: not UTF-8"):
        read_dataset("synthae", synth_root)


BOM = "\ufeff"


def test_bom_in_a_whitespace_table(tw_root):
    write_text(tw_root / "twitter_five_agrees.txt", BOM + "a.jpg 1\r\nb.jpg 0\r\n")
    assert [s.id for s in read_dataset("twitter", tw_root, strict=True)] == ["a", "b"]


def test_bom_in_a_hash_separated_table(tmp_path):
    root = write_dataset(synth_samples(2), tmp_path / "ava", "ava")
    path = root / "comments.txt"
    path.write_text(BOM + path.read_text(), encoding="utf-8")
    comments = [s.labels["comments"] for s in read_dataset("ava", root)]
    assert comments == [["comment 0", "so good"], ["comment 1", "so good"]]


def test_bom_in_json_lines(synth_root):
    path = synth_root / "labels.jsonl"
    path.write_text(BOM + path.read_text(), encoding="utf-8")
    assert [s.id for s in read_dataset("synthae", synth_root)] == ["synth-000", "synth-001"]


# --------------------------------------------------------------------------------------------- prediction
def test_predict_lists_a_huge_image_as_unreadable_and_goes_on(tmp_path, monkeypatch):
    from aelab.prediction import predict
    from aelab.train.config import TrainConfig
    from aelab.train.trainer import fit

    run = fit(TrainConfig(arch="share_split", n_images=160, image_size=32, epochs=1, batch_size=32, progress=False,
                          grad_ratio_every=0, output=str(tmp_path / "runs")))
    folder = tmp_path / "album"
    small = write_images(folder, ["a.png"])[0]
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(folder / "deep.png")
    Image.new("RGB", (20, 20)).save(folder / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    result = predict(run.folder, folder, progress=False)
    assert [row["path"] for row in result.rows] == [str(small), str(folder / "deep.png")]
    assert [e["path"] for e in result.errors] == [str(folder / "huge.png")]
    assert "400 pixels" in result.errors[0]["error"] and "MAX_IMAGE_PIXELS" in result.errors[0]["error"]


@pytest.mark.parametrize(
    "name, text, layout, options",
    [
        ("train_aes_list.txt", "0 1\n1 0\n", "uae", {"split": "train"}),
        ("AVA.txt", "1 0 0 1 5 0 0 0 0 0 0 0 0 0 1\n2 1 0 1 5 0 0 0 0 0 0 0 0 0 1\n", "ava", {}),
    ],
)
def test_bom_in_other_whitespace_tables(tmp_path, name, text, layout, options):
    write_images(tmp_path / "images", ["0.jpg", "1.jpg"])
    write_text(tmp_path / name, BOM + text)
    assert [s.id for s in read_dataset(layout, tmp_path, strict=True, **options)] == ["0", "1"]
