"""Faithfulness numbers for Grad-CAM (subject box, spliced images, multi-task vs single-task focus) and for the
co-attention of the image–text model, each on hand-wired models whose answer is known."""

import numpy as np
import pytest
import torch
from torch import nn

from aelab.errors import AelabError, ConfigError
from aelab.models import build_model
from aelab.reference_model import reference_run
from aelab.tasks import get_task
from aelab.viz.coattention import WordAttention
from aelab.viz.faithfulness_cam import (focus_layer, held_out, spliced_check, spliced_check_of_run, subject_focus,
                                        subject_focus_of_run)
from aelab.viz.faithfulness_focus import PairedDifference, concentration, focus_comparison, focus_comparison_of_runs
from aelab.viz.faithfulness_text import (FUNCTION_WORDS, SUBJECT_WORDS, attention_in_box, coattention_focus,
                                         coattention_focus_from)

SIDE = 48
RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


class Wired(nn.Module):
    """An aesthetic head wired by hand: channel c of the probe layer is ``colours[c] · pixel + bias`` (a 1×1 conv),
    average-pooled 4× and optionally multiplied by a fixed ``mask``; the logit is ``Σ_c signs[c] · mean(channel c)``.
    For that logit Grad-CAM's α_c is ``signs[c] / cells``, so the map of class "high" is ``ReLU(Σ signs·A)``."""

    tasks = [get_task("aesthetic")]
    task_names = ["aesthetic"]

    def __init__(self, colours, *, bias=0.0, signs=None, mask=None,
                 layers=("aesthetic.stage1", "aesthetic.connector1")):
        super().__init__()
        self.conv = nn.Conv2d(3, len(colours), 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(colours, dtype=torch.float32)[..., None, None])
            self.conv.bias.fill_(bias)
        self.register_buffer("signs", torch.tensor(signs or [1.0] * len(colours)))
        self.register_buffer("mask", torch.ones(SIDE // 4, SIDE // 4) if mask is None else mask)
        self.pool, self.tap, self.names = nn.AvgPool2d(4), nn.Identity(), list(layers)

    def probe_layers(self):
        return self.names

    def layer(self, name):
        return self.tap

    def forward(self, images):
        grid = self.tap(self.pool(self.conv(images)) * self.mask)
        return {"aesthetic": (grid.mean(dim=(2, 3)) * self.signs).sum(dim=1)}


def looks_at_red():
    return Wired([RED])


def ignores_position():
    return Wired([(0.0, 0.0, 0.0)], bias=1.0)  # one constant channel: a uniform map whatever the image


def squares(count=6, colour=RED, seed=0):
    """Black images, each with one ``colour`` square of a quarter of the side at a random place, and their boxes."""
    rng = np.random.default_rng(seed)
    images, boxes, side = torch.zeros(count, 3, SIDE, SIDE), [], SIDE // 4
    for i in range(count):
        x, y = (int(v) for v in rng.integers(0, SIDE - side, 2))
        images[i, :, y:y + side, x:x + side] = torch.tensor(colour)[:, None, None]
        boxes.append([x / SIDE, y / SIDE, (x + side) / SIDE, (y + side) / SIDE])
    return images, boxes


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


# ---- subject box ---------------------------------------------------------------------------------------------


def test_a_map_wired_to_the_subject_lies_in_its_box():
    images, boxes = squares()
    result = subject_focus(looks_at_red(), images, boxes, target=1)
    assert result.layer == "aesthetic.connector1" and result.target == "class high"
    assert result.chance == pytest.approx(1 / 16)
    assert result.value > 0.6 and result.ratio > 8 and result.passed  # bilinear upsampling blurs the edges
    assert result.n == 6 and result.empty == 0
    assert "pass" in result.describe() and "\n" not in result.describe()


def test_a_map_that_ignores_position_puts_the_area_share_in_the_box_and_fails():
    images, boxes = squares()
    result = subject_focus(ignores_position(), images, boxes, target=1)
    assert result.value == pytest.approx(result.chance, rel=1e-4)
    assert result.ratio == pytest.approx(1.0, rel=1e-4) and not result.passed
    assert result.describe().endswith("fail")


def test_empty_maps_are_left_out_and_counted():
    images, boxes = squares()
    result = subject_focus(looks_at_red(), images, boxes, target=0)  # class "low" = −logit: no positive evidence
    assert result.n == 0 and result.empty == 6 and not result.passed


def test_subject_focus_names_a_wrong_box_count():
    images, boxes = squares()
    with pytest.raises(ConfigError, match=r"boxes: got '5 boxes', expected one subject box .* per image \(6\)"):
        subject_focus(looks_at_red(), images, boxes[:5])


# ---- spliced images -----------------------------------------------------------------------------------------


def red_versus_blue(count=4):
    """High-aesthetic images are red, low ones blue; the model reads red as high and blue as low."""
    model = Wired([RED, BLUE], signs=[1.0, -1.0])
    images = torch.cat([squares(count, RED)[0] + torch.tensor(RED)[:, None, None] * 0.5,
                        squares(count, BLUE, seed=1)[0] + torch.tensor(BLUE)[:, None, None] * 0.5])
    return model, images, [1] * count + [0] * count


def test_a_model_that_reads_the_content_picks_the_deciding_half_every_time():
    model, images, labels = red_versus_blue()
    result = spliced_check(model, images, labels, splices=10)
    assert result.hits == {"low": 10, "high": 10} and result.value == 1.0 and result.passed
    assert "low 10/10" in result.describe() and result.chance == 0.5


def test_a_model_that_always_looks_left_is_right_only_when_its_class_is_there():
    # the classes take turns on the left: a map fixed on the left half is right in half of the splices
    _, images, labels = red_versus_blue()
    left = torch.zeros(SIDE // 4, SIDE // 4)
    left[:, :SIDE // 8] = 1
    biased = Wired([(0.0, 0.0, 0.0)], bias=1.0, mask=left)  # class high: the left half; class low: an empty map
    result = spliced_check(biased, images, labels, splices=10)
    assert result.hits == {"low": 0, "high": 5} and result.value == 0.25 and not result.passed
    reads_colour_on_the_left = Wired([RED, BLUE], signs=[1.0, -1.0], mask=left)
    assert spliced_check(reads_colour_on_the_left, images, labels, splices=10).value == pytest.approx(0.5)


class WiredEmotion(Wired):
    """An emotion head wired by hand: the logit of class c (c < 3) is the mean of colour channel c; the rest 0."""

    tasks = [get_task("emotion")]
    task_names = ["emotion"]

    def __init__(self, **options):
        super().__init__([RED, GREEN, BLUE], layers=("emotion.stage1",), **options)

    def forward(self, images):
        means = self.tap(self.pool(self.conv(images)) * self.mask).mean(dim=(2, 3))
        return {"emotion": torch.cat([means, torch.zeros(len(images), 5)], dim=1)}


def three_colours(count=3):
    """Images of classes 0, 1, 2 (amusement, anger, awe): a red, green or blue square on a tint of its colour."""
    parts = [squares(count, colour, seed=k)[0] + torch.tensor(colour)[:, None, None] * 0.5
             for k, colour in enumerate((RED, GREEN, BLUE))]
    return torch.cat(parts), [c for c in range(3) for _ in range(count)]


def test_an_emotion_head_that_reads_the_colours_picks_each_images_half():
    images, labels = three_colours()
    result = spliced_check(WiredEmotion(), images, labels, task="emotion", splices=12)  # 8 classes: pairs of any two
    assert result.value == 1.0 and result.passed and sum(result.maps_per_class.values()) == 24
    assert set(result.hits) <= {"amusement", "anger", "awe"} and result.hits == result.maps_per_class
    assert "the deciding half in 100% (24/24 maps, 3 classes;" in result.describe()


def test_an_emotion_head_that_looks_left_picks_the_right_half_only_by_chance():
    images, labels = three_colours()
    left = torch.zeros(SIDE // 4, SIDE // 4)
    left[:, :SIDE // 8] = 1
    result = spliced_check(WiredEmotion(mask=left), images, labels, task="emotion", splices=40)
    assert result.value == pytest.approx(0.5) and not result.passed  # every left image's map, no right one's
    with pytest.raises(AelabError, match="at least two classes of emotion; the images are all anger"):
        spliced_check(WiredEmotion(), images[3:6], labels[3:6], task="emotion")


def test_images_without_an_emotion_label_are_left_out_of_the_pairs():
    images, labels = three_colours()
    missing = labels[:3] + [-1] * 6  # only the red images are labelled
    with pytest.raises(AelabError, match="at least two classes of emotion; the images are all amusement"):
        spliced_check(WiredEmotion(), images, missing, task="emotion")
    labels[3] = -1
    result = spliced_check(WiredEmotion(), images, labels, task="emotion", splices=12)
    assert result.value == 1.0 and sum(result.maps_per_class.values()) == 24
    two_classes = spliced_check(WiredEmotion(), images, labels, task="emotion", classes=(0, 2), splices=4)
    assert set(two_classes.hits) == {"amusement", "awe"}  # an explicit pair is still honoured


def test_spliced_check_says_which_class_is_missing():
    model, images, labels = red_versus_blue()
    with pytest.raises(AelabError, match="both classes of aesthetic; the images hold low: 0, high: 4"):
        spliced_check(model, images[:4], labels[:4])
    with pytest.raises(ConfigError, match="splices: got 0, expected an integer >= 1"):
        spliced_check(model, images, labels, splices=0)


# ---- paper 000 Fig. 5: multi-task against single-task ----------------------------------------------------


def test_concentration_of_known_maps():
    assert concentration(np.ones((10, 10))) == pytest.approx(0.2)
    peak = np.zeros((10, 10))
    peak[3, 4] = 2.0
    assert concentration(peak) == 1.0
    assert np.isnan(concentration(np.zeros((4, 4))))


def test_focus_layer_is_the_last_connector_or_the_same_place_in_a_single_task_network():
    afi = build_model("afi", "tiny", tasks=["aesthetic", "emotion"])
    single = build_model("single", "tiny", tasks=["aesthetic", "emotion"])
    assert focus_layer(afi, "emotion") == "emotion.connector5"
    assert focus_layer(single, "emotion") == "emotion.stage5"
    shallow = build_model("afi", "tiny", tasks=["aesthetic", "emotion"], stages="shallow")
    assert focus_layer(shallow, "aesthetic") == "aesthetic.connector2"  # connectors after stages 1–2 only


def test_the_focused_model_wins_the_comparison_and_the_spread_one_loses():
    images, boxes = squares()
    focused = looks_at_red()
    spread = Wired([(0.0, 0.0, 0.0)], bias=1.0, layers=("aesthetic.stage1",))
    result = focus_comparison(focused, spread, images, boxes, targets={"aesthetic": 1})
    task = result.tasks["aesthetic"]
    assert (task.multi_layer, task.single_layer) == ("aesthetic.connector1", "aesthetic.stage1")
    assert task.concentration.first > 0.95 and task.concentration.second == pytest.approx(0.2, abs=1e-3)
    assert task.concentration.mean == pytest.approx(task.concentration.first - task.concentration.second)
    assert task.concentration.higher == 6 and task.concentration.p_value < 0.05
    assert task.in_box.first > 0.6 and task.in_box.second == pytest.approx(result.area, rel=1e-3)
    assert result.passed
    assert "aesthetic: concentration Δ +0.80 ± 0.00 (higher in 6/6), in box Δ +0.6" in result.describe()
    reverse = focus_comparison(spread, focused, images, boxes, targets={"aesthetic": 1})
    assert reverse.tasks["aesthetic"].concentration.lower == 6 and not reverse.passed


def test_paired_difference_counts_signs_and_drops_missing_pairs():
    difference = PairedDifference.of([0.5, 0.4, float("nan"), 0.3], [0.2, 0.6, 0.1, 0.3])
    assert (difference.n, difference.higher, difference.lower) == (3, 1, 1)
    assert difference.mean == pytest.approx((0.3 - 0.2 + 0.0) / 3)
    assert difference.std == pytest.approx(np.std([0.3, -0.2, 0.0]))


def test_focus_comparison_needs_a_task_both_models_predict():
    images, boxes = squares()
    with pytest.raises(ConfigError, match=r"tasks: got \['emotion'\], expected tasks both models predict"):
        focus_comparison(looks_at_red(), looks_at_red(), images, boxes, tasks=["emotion"])


# ---- on the reference run -------------------------------------------------------------------------------------


def test_the_checks_run_on_a_trained_run():
    run = reference_run()
    focus = subject_focus_of_run(run, n=8)
    assert focus.layer == "aesthetic.connector5" and focus.n + focus.empty == 8 and len(focus.shares) == 8
    spliced = spliced_check_of_run(run, splices=4, n=16)
    assert set(spliced.hits) == {"low", "high"} and spliced.splices == 4
    same = focus_comparison_of_runs(run, run, n=6)  # a run against itself: no difference either way
    for task in same.tasks.values():
        assert task.concentration.mean == pytest.approx(0.0, abs=1e-6)
        assert task.concentration.higher == task.concentration.lower == 0
    assert not same.passed


def test_runs_are_compared_on_each_image_true_class(monkeypatch):
    import aelab.viz.faithfulness_focus as module

    seen = {}
    monkeypatch.setattr(module, "focus_comparison", lambda *args, **options: seen.update(args=args, **options))
    run = reference_run()
    focus_comparison_of_runs(run, run, n=6)
    _, data = held_out(run, 6)
    assert set(seen["targets"]) == {"aesthetic", "emotion"}
    assert seen["targets"]["emotion"].tolist() == data.labels["emotion"].tolist()
    assert torch.allclose(seen["single_images"], data.images, atol=1e-6)


def test_a_run_check_names_a_bad_image_count():
    with pytest.raises(ConfigError, match="n: got 0, expected an integer >= 1"):
        held_out("no-such-run", 0)


# ---- co-attention ------------------------------------------------------------------------------------------------


def hand_attention(words, focused, grid=(2, 2)):
    """Words in ``focused`` put all their attention on the top-left region, the others spread it evenly."""
    maps = torch.full((len(words), *grid), 1.0 / (grid[0] * grid[1]))
    for i, word in enumerate(words):
        if word in focused:
            maps[i] = 0
            maps[i, 0, 0] = 1.0
    return WordAttention(list(words), maps, 0)


TOP_LEFT = [0.0, 0.0, 0.5, 0.5]


def test_subject_words_on_the_box_pass_while_function_words_stay_spread():
    words = ["the", "red", "triangle", "is", "nice"]
    result = coattention_focus_from([hand_attention(words, {"red", "triangle"})] * 3, [TOP_LEFT] * 3)
    assert result.subject.value == pytest.approx(1.0) and result.subject.ratio == pytest.approx(4.0)
    assert result.function.ratio == pytest.approx(1.0) and result.function.count == 6
    assert result.subject.count == 6 and result.passed
    assert "4.0×" in result.describe() and result.describe().endswith("pass")


@pytest.mark.parametrize("focused", [set(), {"red", "triangle", "the", "is"}], ids=["spread", "every word"])
def test_coattention_fails_when_subject_words_spread_or_function_words_focus_too(focused):
    words = ["the", "red", "triangle", "is"]
    result = coattention_focus_from([hand_attention(words, focused)], [TOP_LEFT])
    assert not result.passed


def test_no_subject_word_in_the_comments_is_said_plainly():
    result = coattention_focus_from([hand_attention(["the", "colours", "clash"], set())], [TOP_LEFT])
    assert result.subject.count == 0 and not result.passed
    assert "names the subject, its colour or shape" in result.describe()


def test_an_even_spread_puts_exactly_the_box_area_in_an_unaligned_box():
    shares = attention_in_box(hand_attention(["a"], set(), grid=(3, 3)), [0.1, 0.2, 0.6, 0.5])
    assert shares[0] == pytest.approx(0.5 * 0.3)


def test_word_lists_hold_the_synthae_shapes_and_common_function_words():
    assert {"triangle", "star", "circles", "red", "blue"} <= SUBJECT_WORDS
    assert {"the", "a", "is"} <= FUNCTION_WORDS and not SUBJECT_WORDS & FUNCTION_WORDS


class KnownAttention(nn.Module):
    """Stands in for a co-attention block's ``nn.MultiheadAttention``: word positions 1 and 2 attend to region 0
    only, every other position evenly to all regions."""

    def forward(self, query, key, value, key_padding_mask=None, need_weights=False):
        batch, words, regions = query.shape[0], query.shape[1], key.shape[1]
        weights = torch.full((batch, words, regions), 1.0 / regions)
        weights[:, 1:3] = 0
        weights[:, 1:3, 0] = 1
        return torch.zeros_like(query), weights


def test_coattention_focus_reads_the_model_attention():
    torch.manual_seed(0)
    model = build_model("mcn", "tiny", tasks=["aesthetic"], vocabulary=["the", "red", "triangle", "is"], layers=1)
    model.layers[0].text_from_image.attention = KnownAttention()
    images = torch.randn(2, 3, 64, 64)  # the tiny backbone's 2×2 region grid at 64 px
    result = coattention_focus(model, images, ["the red triangle is", "the red triangle"], [TOP_LEFT] * 2)
    assert result.subject.count == 4 and result.subject.ratio == pytest.approx(4.0)
    assert result.function.ratio == pytest.approx(1.0) and result.passed
    with pytest.raises(ConfigError, match=r"comments: got '1 comments', expected one comment string per image \(2\)"):
        coattention_focus(model, images, ["the red triangle"], [TOP_LEFT] * 2)
    image_only = build_model("mcn_image", "tiny", tasks=["aesthetic"])
    with pytest.raises(ConfigError, match="model: got 'MCN', expected an image-text model with co-attention"):
        coattention_focus(image_only, images, ["a", "b"], [TOP_LEFT] * 2)
