"""AVA + AVA-Comments for the image–text model (docs/science.md §2.1): scores, style tags where listed, comments, and
the
batches an image–text model reads (comments as strings, the style loss masked for images without style labels)."""

import pytest
import torch
from format_fixtures import write_images, write_text

from aelab.data import TaskDataset
from aelab.data.formats import read_dataset
from aelab.errors import DataFormatError, DatasetNotFoundError
from aelab.tasks import STYLES
from aelab.text import COMMENT_SEPARATOR
from aelab.train.losses import task_loss

IDS = ["953619", "953958", "954184", "954113"]
STYLE_NAMES = ["Complementary_Colors", "Duotones", "HDR", "Image_Grain", "Light_On_White", "Long_Exposure", "Macro",
               "Motion_Blur", "Negative_Image", "Rule_of_Thirds", "Shallow_DOF", "Silhouettes", "Soft_Focus",
               "Vanishing_Point"]


@pytest.fixture
def ava_root(tmp_path):
    """Four AVA images (published layout); two in the style lists; AVA-Comments for three of them."""
    root = tmp_path / "AVA"
    write_images(root / "images", [f"{i}.jpg" for i in IDS])
    write_text(root / "AVA.txt", "1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n"
                                 "2 953958 10 20 30 40 0 0 0 0 0 0 0 0 1396\n"
                                 "3 954184 0 0 0 0 0 0 0 0 0 3 15 0 1395\n"
                                 "4 954113 0 0 0 0 1 0 0 0 0 0 0 0 1395\n")
    styles = root / "style_image_lists"
    write_text(styles / "styles.txt", "".join(f"{i} {n}\n" for i, n in enumerate(STYLE_NAMES, 1)))
    write_text(styles / "train.jpgl", "953958\n")
    write_text(styles / "train.lab", "11\n")
    write_text(styles / "test.jpgl", "953619\n")
    write_text(styles / "test.multilab", "1 0 0 0 0 0 0 0 0 1 0 0 0 0\n")
    write_text(root / "AVA-Comments.txt",
               "1#953619#Lovely light, great colours!#The horizon is tilted.#\n"
               "2#953958#Too blurry for me.\n"
               "3#954184#  #\n")
    return root


def test_reader_yields_score_styles_where_listed_and_comments(ava_root):
    samples = read_dataset("ava", ava_root, comments="AVA-Comments.txt")
    by_id = {s.id: s for s in samples}
    assert list(by_id) == IDS
    assert by_id["953619"].labels["comments"] == ["Lovely light, great colours!", "The horizon is tilted."]
    assert by_id["953958"].labels["comments"] == ["Too blurry for me."]
    assert by_id["954184"].labels["comments"] == []  # listed, all comments blank
    assert "comments" not in by_id["954113"].labels  # not listed
    assert by_id["953958"].labels["style"][STYLES.index("shallow_dof")] == 1.0
    assert "style" not in by_id["954184"].labels and "style" not in by_id["954113"].labels
    assert by_id["953619"].labels["aesthetic_score"] == pytest.approx(699 / 124)


def test_batches_carry_comment_strings_and_mask_the_style_loss(ava_root):
    samples = read_dataset("ava", ava_root, comments="AVA-Comments.txt")
    data = TaskDataset(samples, ["aesthetic_score", "style"], transform=lambda im: torch.zeros(3, 8, 8))
    batch = torch.utils.data.default_collate([data[i] for i in range(len(data))])
    assert batch["comments"] == [f"Lovely light, great colours!{COMMENT_SEPARATOR}The horizon is tilted.",
                                 "Too blurry for me.", "", ""]
    assert batch["mask"]["style"].tolist() == [True, True, False, False]
    assert batch["mask"]["aesthetic_score"].all()
    logits = torch.zeros(4, len(STYLES), requires_grad=True)
    loss = task_loss("style", logits, batch["targets"]["style"], batch["mask"]["style"])
    loss.backward()
    assert logits.grad[2:].abs().sum() == 0 and logits.grad[:2].abs().sum() > 0  # unlabelled: no gradient
    changed = batch["targets"]["style"].clone()
    changed[2:] = 1.0  # whatever an unlabelled sample's placeholder holds, the loss is the same
    assert float(task_loss("style", logits, changed, batch["mask"]["style"]).detach()) == pytest.approx(float(loss.detach()))


@pytest.mark.parametrize("text, message", [
    ("1#953619#fine\nbroken line without separators\n",
     r"AVA-Comments\.txt, line 2: expected at least 2 fields \(index#image id#comments\), found 1"),
    ("1#953619#fine\n2#IMG_77#nice\n", r"AVA-Comments\.txt, line 2: image id must be an integer, found 'IMG_77'"),
])
def test_bad_comment_lines_name_file_line_and_expectation(ava_root, text, message):
    write_text(ava_root / "AVA-Comments.txt", text)
    with pytest.raises(DataFormatError, match=message):
        read_dataset("ava", ava_root, comments="AVA-Comments.txt")


def test_missing_comments_file_is_named(ava_root):
    with pytest.raises(DatasetNotFoundError, match=r"AVA-Comments file .*absent\.txt"):
        read_dataset("ava", ava_root, comments="absent.txt")


def test_bad_style_lists_are_named(ava_root):
    write_text(ava_root / "style_image_lists" / "train.lab", "15\n")
    with pytest.raises(DataFormatError, match=r"train\.lab, line 1: .*style id"):
        read_dataset("ava", ava_root, comments="AVA-Comments.txt")
    write_text(ava_root / "style_image_lists" / "train.lab", "11\n")
    write_text(ava_root / "style_image_lists" / "test.multilab", "1 0 0\n")
    with pytest.raises(DataFormatError, match=r"test\.multilab, line 1: expected 14 fields"):
        read_dataset("ava", ava_root, comments="AVA-Comments.txt")
