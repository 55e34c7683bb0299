"""AVA layout (docs/science.md §2.1): AVA.txt vote histograms, style lists, tags/challenges, AVA-Comments."""

import pytest
from format_fixtures import pick, synth_samples, write_images, write_text

from aelab.data.formats import read_dataset, write_dataset
from aelab.data.formats.ava import votes_of
from aelab.data.sample import Sample
from aelab.errors import DataFormatError, DatasetNotFoundError, MissingImagesError, UnknownNameError
from aelab.tasks import STYLES

STYLES_TXT = "".join(f"{i} {n}\n" for i, n in enumerate(
    ["Complementary_Colors", "Duotones", "HDR", "Image_Grain", "Light_On_White", "Long_Exposure", "Macro",
     "Motion_Blur", "Negative_Image", "Rule_of_Thirds", "Shallow_DOF", "Silhouettes", "Soft_Focus", "Vanishing_Point"], 1))


@pytest.fixture
def ava_root(tmp_path):
    root = tmp_path / "AVA"
    write_images(root / "images", ["953619.jpg", "953958.jpg", "954184.jpg", "954113.jpg"])
    write_text(root / "AVA.txt", "1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n"
                                 "2 953958 10 20 30 40 0 0 0 0 0 0 0 0 1396\n"
                                 "3 954184 0 0 0 0 0 0 0 0 0 3 15 0 1395\n"
                                 "4 954113 0 0 0 0 1 0 0 0 0 0 0 0 1395\n")
    write_text(root / "tags.txt", "1 Abstract\n15 Black and White\n22 Landscape\n")
    write_text(root / "challenges.txt", "1396 100_Meters\n1395 Blur\n")
    styles = root / "style_image_lists"
    write_text(styles / "styles.txt", STYLES_TXT)
    write_text(styles / "train.jpgl", "953958\n954184\n")
    write_text(styles / "train.lab", "2\n14\n")
    write_text(styles / "test.jpgl", "953619\n")
    write_text(styles / "test.multilab", "1 0 0 0 0 0 0 0 0 1 0 0 0 0\n")
    return root


def one_hot(*positions):
    return [1.0 if i in positions else 0.0 for i in range(len(STYLES))]


def test_scores_tags_and_styles(ava_root):
    samples = read_dataset("ava", ava_root)
    assert [s.id for s in samples] == ["953619", "953958", "954184", "954113"]
    first = samples[0]
    assert first.labels["aesthetic_score"] == pytest.approx(699 / 124)  # the example line in docs/science.md §2.1
    assert first.labels["aesthetic"] == 1 and samples[1].labels["aesthetic"] == 0
    assert samples[3].labels["aesthetic_score"] == 5.0 and samples[3].labels["aesthetic"] == 0  # mean > 5, not >=
    assert first.meta["votes"] == [0, 1, 5, 17, 38, 36, 15, 6, 5, 1]
    assert first.meta["tag_names"] == ["Abstract", "Landscape"] and first.meta["challenge_name"] == "100_Meters"
    assert samples[2].meta["tag_names"] == ["Black and White"]
    assert first.labels["style"] == one_hot(0, 9)
    assert samples[1].labels["style"] == one_hot(1) and samples[2].labels["style"] == one_hot(13)
    assert "style" not in samples[3].labels


def test_style_subset_and_styles_txt_order(ava_root):
    assert [s.id for s in read_dataset("ava", ava_root, subset="style")] == ["953619", "953958", "954184"]
    lines = STYLES_TXT.splitlines()
    write_text(ava_root / "style_image_lists" / "styles.txt", "\n".join([f"1 {lines[1].split()[1]}", f"2 {lines[0].split()[1]}", *lines[2:]]))
    samples = read_dataset("ava", ava_root, subset="style")  # id 2 now means Complementary_Colors
    assert samples[1].labels["style"] == one_hot(0) and samples[0].labels["style"] == one_hot(1, 9)
    with pytest.raises(UnknownNameError, match="unknown ava subset 'styles'"):
        read_dataset("ava", ava_root, subset="styles")


def test_comments(ava_root):
    write_text(ava_root / "c.txt", "1#953619#great light# #nice\n2#953958#\n9#1#not in AVA\n")
    samples = read_dataset("ava", ava_root, comments="c.txt")
    assert samples[0].labels["comments"] == ["great light", "nice"]
    assert samples[1].labels["comments"] == [] and "comments" not in samples[2].labels
    write_text(ava_root / "comments.txt", "1#953619#default file\n")
    assert read_dataset("ava", ava_root)[0].labels["comments"] == ["default file"]
    assert "comments" not in read_dataset("ava", ava_root, comments=False)[0].labels
    write_text(ava_root / "c.txt", "1#x#oops\n")
    with pytest.raises(DataFormatError, match=r"c\.txt, line 1: image id must be an integer, found 'x'"):
        read_dataset("ava", ava_root, comments="c.txt")
    write_text(ava_root / "c.txt", "1 953619 no separators\n")
    with pytest.raises(DataFormatError, match=r"line 1: expected at least 2 fields \(index#image id#comments\), found 1"):
        read_dataset("ava", ava_root, comments="c.txt")
    with pytest.raises(DatasetNotFoundError, match=r"AVA-Comments file .*gone\.txt"):
        read_dataset("ava", ava_root, comments="gone.txt")


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("AVA.txt", "1 953619 0 1 5 17 38 36 15 6 5 1 1 22\n", r"AVA\.txt, line 1: expected 15 fields \(index, image id, 10 vote counts, 2 tags, challenge\), found 14"),
        ("AVA.txt", "1 953619 0 1 5 17 38 36 15 6 5 1 1 x 1396\n", r"line 1: every AVA\.txt field must be an integer, found 'x'"),
        ("AVA.txt", "1 953619 0 1 5 0 0 0 0 0 0 0 0 0 1\n2 953958 0 0 0 0 0 0 0 0 0 0 0 0 1\n", r"AVA\.txt, line 2: image 953958 has no votes"),
        ("AVA.txt", "1 953619 0 1 5 0 0 0 0 0 0 0 0 0 1\n2 953619 0 2 5 0 0 0 0 0 0 0 0 0 1\n", r"line 2: image 953619 is listed twice with different votes.*: 0 2 5 .* here, 0 1 5 .* on line 1"),
        ("style_image_lists/train.lab", "2\n", r"train\.lab: has 1 label lines but .*train\.jpgl lists 2 images"),
        ("style_image_lists/test.multilab", "1 0 0 0\n", r"test\.multilab, line 1: expected 14 fields \(14 binary style flags\), found 4"),
        ("style_image_lists/test.multilab", "1 0 0 0 0 0 0 0 0 1 0 0 0 2\n", r"line 1: style flag out of range: expected 0\.\.1, found 2"),
        ("style_image_lists/train.lab", "2\n15\n", r"train\.lab, line 2: style id out of range: expected 1\.\.14, found 15"),
        ("style_image_lists/styles.txt", STYLES_TXT.replace("Macro", "Blurry"), r"styles\.txt: unknown style 'Blurry'; expected one of: complementary_colors"),
    ],
)
def test_bad_files(ava_root, name, text, message):
    write_text(ava_root / name, text)
    with pytest.raises(DataFormatError, match=message):
        read_dataset("ava", ava_root)


def test_missing_files(ava_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="ava data set root"):
        read_dataset("ava", tmp_path / "nothing")
    (ava_root / "style_image_lists" / "train.lab").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"required style labels of train\.jpgl .*train\.lab does not exist"):
        read_dataset("ava", ava_root)
    for path in (ava_root / "style_image_lists").iterdir():
        path.unlink()
    (ava_root / "style_image_lists").rmdir()
    assert len(read_dataset("ava", ava_root)) == 4  # style lists are optional for subset="all" ...
    with pytest.raises(DatasetNotFoundError, match="subset='style' needs the folder"):
        read_dataset("ava", ava_root, subset="style")  # ... but not for "style"
    (ava_root / "AVA.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"required label file .*AVA\.txt does not exist"):
        read_dataset("ava", ava_root)


def test_absent_and_unreadable_images(ava_root):
    (ava_root / "images" / "953958.jpg").unlink()
    write_text(ava_root / "images" / "954113.jpg", "html error page")
    with pytest.warns(UserWarning, match=r"2 of 4 listed images skipped \(1 missing, 1 unreadable\): .*953958\.jpg, .*954113\.jpg"):
        assert [s.id for s in read_dataset("ava", ava_root)] == ["953619", "954184"]
    with pytest.raises(MissingImagesError, match="953958.jpg"):
        read_dataset("ava", ava_root, strict=True)


def test_votes_from_score_keep_the_label():
    assert votes_of(Sample("a", {"aesthetic_score": 6.25}, None)).tolist() == [0, 0, 0, 0, 0, 75, 25, 0, 0, 0]
    votes = votes_of(Sample("b", {"aesthetic_score": 5.001, "aesthetic": 1}, None))
    assert (votes @ range(1, 11)) / votes.sum() > 5
    assert votes_of(Sample("c", {"aesthetic": 0}, None)).tolist()[3] == 100
    with pytest.raises(ValueError, match="sample 'd' has none"):
        votes_of(Sample("d", {"emotion": 1}, None))


def test_round_trip(tmp_path, ava_root):
    samples = synth_samples(8)
    samples[2].meta["style_split"] = "test"  # a one-hot style kept in test.multilab
    samples[3].labels["comments"] = ["has # hash", "  ", "line\nbreak"]
    del samples[5].labels["style"], samples[6].labels["comments"]
    root = write_dataset(samples, tmp_path / "ava", "ava")
    back = read_dataset("ava", root)
    assert [s.id for s in back] == [str(i) for i in range(1, 9)]  # non-integer ids → 1..n
    assert pick(back, "aesthetic", "style") == pick(samples, "aesthetic", "style")
    assert [s.labels["aesthetic_score"] for s in back] == pytest.approx([s.labels["aesthetic_score"] for s in samples])
    assert [s.meta["style_split"] for s in back if "style" in s.labels] == ["train", "test", "test", "test", "train", "train", "test"]
    assert back[3].labels["comments"] == ["has hash", "line break"] and "comments" not in back[6].labels
    assert back[0].labels["comments"] == samples[0].labels["comments"]
    # a read AVA set round-trips with its ids, votes and tags
    original = read_dataset("ava", ava_root)
    again = read_dataset("ava", write_dataset(original, tmp_path / "ava2", "ava"))
    assert [(s.id, s.labels, s.meta["votes"], s.meta["tags"]) for s in again] == [
        (s.id, s.labels, s.meta["votes"], s.meta["tags"]) for s in original
    ]
