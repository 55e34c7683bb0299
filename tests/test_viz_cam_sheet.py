"""The Grad-CAM sheet (tasks × layers × classes, with the subject-box number in every title), the branch a probe
layer belongs to, and the numbers the checks write into a results file."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_viz_faithfulness_cam import Wired, WiredEmotion, looks_at_red, squares, three_colours

from aelab.errors import ConfigError, UnknownNameError
from aelab.models import build_model
from aelab.task_kinds import predicted_labels
from aelab.viz.cam import grad_cam, head_uses_layer
from aelab.viz.cam_sheet import (box_shares, cam_sheet, figure_checks, layer_branch, layer_serves, predicted_focus,
                                 predicted_names, sheet_figures, spliced_figure, subject_check_layer,
                                 task_spliced_check)
from aelab.viz.faithfulness_cam import spliced_check, subject_focus, subject_focus_of_maps
from aelab.viz.faithfulness_focus import FocusComparison, PairedDifference, TaskFocus, train_focus_pair


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def two_branch():
    torch.manual_seed(0)
    return build_model("afi", "tiny", tasks=["aesthetic", "emotion"]).eval()


def test_the_branch_of_a_layer_comes_from_the_model_probe_names():
    model = two_branch()
    assert layer_branch(model, "emotion.stage2") == "emotion"
    assert layer_serves(model, "aesthetic.connector2", "aesthetic")
    assert not layer_serves(model, "emotion.stage2", "aesthetic")
    shared = build_model("share_split", "tiny", tasks=["aesthetic", "emotion"])
    assert layer_branch(shared, "shared.stage3") == "shared"
    assert layer_serves(shared, "shared.stage3", "aesthetic") and layer_serves(shared, "shared.stage3", "emotion")
    with pytest.raises(UnknownNameError, match="aesthetic.stage9"):
        layer_branch(model, "aesthetic.stage9")


def test_predicted_names_decode_as_predictions_do_and_keep_the_mode():
    model = two_branch().train()
    images = torch.randn(5, 3, 32, 32)
    names = predicted_names(model, images, "emotion", batch_size=2)
    assert model.training
    model.eval()
    with torch.no_grad():
        assert names == predicted_labels("emotion", model(images)["emotion"])


def test_the_sheets_predicted_class_check_is_the_one_computed_from_the_model():
    model = two_branch()
    torch.manual_seed(1)
    images = torch.randn(6, 3, 32, 32)
    boxes = [[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]] * 3
    panels = cam_sheet(model, images, ["aesthetic"], ["aesthetic.stage2", "aesthetic.stage3"], boxes=boxes,
                       per_class=["aesthetic"])
    direct = subject_focus(model, images, boxes, task="aesthetic", layer="aesthetic.stage3")
    assert predicted_focus(panels, "aesthetic", "aesthetic.stage3") == direct
    assert predicted_focus(panels, "aesthetic", "emotion.stage3") is None
    assert predicted_focus(cam_sheet(model, images, ["aesthetic"], ["aesthetic.stage3"]), "aesthetic",
                           "aesthetic.stage3") is None  # no boxes, no check


def test_sheet_maps_every_task_and_layer_and_each_class_only_on_its_own_branch():
    model = two_branch()
    images = torch.randn(4, 3, 32, 32)
    boxes = [[0.0, 0.0, 0.5, 0.5]] * 4
    panels = cam_sheet(model, images, ["aesthetic", "emotion"], ["aesthetic.stage2", "emotion.stage2"],
                       boxes=boxes, per_class=["aesthetic"])
    assert [p.key for p in panels] == [
        "aesthetic@aesthetic.stage2 predicted", "aesthetic=low@aesthetic.stage2", "aesthetic=high@aesthetic.stage2",
        "aesthetic@emotion.stage2 predicted", "emotion@aesthetic.stage2 predicted", "emotion@emotion.stage2 predicted"]
    judged = {p.key: p.focus.judged for p in panels}
    assert judged == {"aesthetic@aesthetic.stage2 predicted": True, "aesthetic=low@aesthetic.stage2": False,
                      "aesthetic=high@aesthetic.stage2": False, "aesthetic@emotion.stage2 predicted": False,
                      "emotion@aesthetic.stage2 predicted": False, "emotion@emotion.stage2 predicted": False}
    predicted = predicted_names(model, images, "emotion")
    assert panels[-1].labels == tuple(f"{name} (predicted)" for name in predicted)
    assert panels[1].labels == ("low",) * 4 and panels[0].maps.shape == (4, 32, 32)
    same = subject_focus(model, images, boxes, task="aesthetic", layer="aesthetic.stage2")
    assert box_shares(panels)["aesthetic@aesthetic.stage2 predicted"] == pytest.approx(same.value)
    with pytest.raises(ConfigError, match="per_class"):
        cam_sheet(model, images, ["emotion"], ["emotion.stage2"], per_class=["aesthetic"])
    with pytest.raises(ConfigError, match="tasks"):
        cam_sheet(model, images, ["style"], ["emotion.stage2"])


def test_a_head_is_not_explained_at_a_layer_its_output_never_reaches():
    """The last connector of one branch feeds only that branch's head: the sheet leaves the other head out there,
    and Grad-CAM asked for it says so in one line instead of captum's autograd error."""
    model = two_branch()
    last = model.probe_layers()[-1]  # emotion.connector<k>, after the last stage
    assert last.startswith("emotion.connector")
    images = torch.randn(2, 3, 32, 32)
    assert head_uses_layer(model, last, "emotion", images) and not head_uses_layer(model, last, "aesthetic", images)
    assert head_uses_layer(model, "emotion.stage2", "aesthetic", images)  # earlier connectors mix the branches
    panels = cam_sheet(model, images, ["aesthetic", "emotion"], [last])
    assert [p.key for p in panels] == [f"emotion@{last} predicted"]
    with pytest.raises(ConfigError, match=f"layer: got '{last}', expected a probe layer the aesthetic head depends"):
        grad_cam(model, images, last, "aesthetic")


def test_callers_that_asked_the_graph_skip_grad_cams_own_dependency_pass(monkeypatch):
    import aelab.viz.cam as cam_module

    model, images = two_branch(), torch.rand(3, 3, 32, 32)
    expected = grad_cam(model, images, "emotion.stage2", "aesthetic")
    asked = []
    monkeypatch.setattr(cam_module, "head_uses_layer", lambda *args: asked.append(args[1]) or True)
    assert torch.equal(grad_cam(model, images, "emotion.stage2", "aesthetic", check_dependency=False), expected)
    assert asked == []
    import aelab.viz.cam_sheet as sheet_module

    monkeypatch.setattr(sheet_module, "head_uses_layer", cam_module.head_uses_layer)
    cam_sheet(model, images, ["aesthetic"], ["emotion.stage2"], per_class=["aesthetic"])
    assert asked == ["emotion.stage2"]  # once per task and layer, by the sheet; not again for each set of maps


def test_the_dependency_check_works_on_frozen_weights_and_leaves_the_model_as_it_was():
    model = two_branch().train()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    buffers = [b.clone() for b in model.buffers()]  # batch-norm statistics: a training-mode pass would move them
    images = torch.rand(2, 3, 32, 32)
    assert head_uses_layer(model, "emotion.stage2", "aesthetic", images)
    assert not head_uses_layer(model, model.probe_layers()[-1], "aesthetic", images)
    assert model.training and all(torch.equal(a, b) for a, b in zip(buffers, model.buffers()))
    assert grad_cam(model, images, "emotion.stage2", "aesthetic").shape == (2, 32, 32)


def test_each_figure_title_states_its_own_number_and_the_verdict_only_where_judged():
    model = looks_at_red()
    images, boxes = squares(6)
    panels = cam_sheet(model, images, ["aesthetic"], ["aesthetic.stage1"], boxes=boxes, per_class=["aesthetic"])
    focused = panels[0].focus
    assert focused.ratio > 4 and focused.passed  # the red square is all the head sees
    figures = sheet_figures(panels, images, boxes, shown=3)
    assert list(figures) == ["cam_aesthetic_aesthetic.stage1.png", "cam_aesthetic_low_aesthetic.stage1.png",
                             "cam_aesthetic_high_aesthetic.stage1.png"]
    title = " ".join(figures["cam_aesthetic_aesthetic.stage1.png"].get_suptitle().split())
    assert f"= {focused.ratio:.1f}× (need ≥ 2×" in title and title.endswith("pass")
    low = " ".join(figures["cam_aesthetic_low_aesthetic.stage1.png"].get_suptitle().split())
    assert "all 6 maps are empty" in low  # class low's map is ReLU of minus the red channel: nothing
    high = figures["cam_aesthetic_high_aesthetic.stage1.png"].get_suptitle()
    assert "×" in high and "pass" not in high and "fail" not in high
    checks = figure_checks(panels)
    assert checks["cam_aesthetic_aesthetic.stage1.png"]["value"] == pytest.approx(focused.value)
    assert checks["cam_aesthetic_high_aesthetic.stage1.png"]["passed"] is None


def test_subject_focus_of_maps_counts_what_lies_in_the_box():
    maps = torch.zeros(3, 4, 4)
    maps[:2, :2, :2] = 1.0  # all mass in the top-left quarter; the third map is empty
    box = [0.0, 0.0, 0.5, 0.5]
    focus = subject_focus_of_maps(maps, [box] * 3, task="aesthetic", layer="a.stage1")
    assert (focus.value, focus.chance, focus.ratio, focus.n, focus.empty) == (1.0, 0.25, 4.0, 2, 1)
    record = focus.as_dict()
    assert record["passed"] is True and record["ratio"] == 4.0 and "4.0×" in record["description"]
    unjudged = subject_focus_of_maps(maps, [box] * 3, task="emotion", layer="a.stage1", judged=False)
    assert unjudged.passed is None and not unjudged.describe().endswith(("pass", "fail"))
    with pytest.raises(ConfigError, match="boxes"):
        subject_focus_of_maps(maps, [box], task="aesthetic", layer="a.stage1")


def test_checks_read_the_first_layer_of_the_aesthetic_branch_else_the_last_connector():
    model = two_branch()
    assert subject_check_layer(model, ["emotion.stage3", "aesthetic.stage3"]) == "aesthetic.stage3"
    assert subject_check_layer(model, ["emotion.stage3"]) == "aesthetic.connector5"


def test_spliced_figure_is_titled_with_the_counted_check():
    model = Wired([(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)], signs=[1.0, -1.0])  # red says high, blue says low
    red, _ = squares(4, (1.0, 0.0, 0.0))
    blue, _ = squares(4, (0.0, 0.0, 1.0), seed=1)
    images, labels = torch.cat([blue, red]), np.array([0] * 4 + [1] * 4)
    check = spliced_check(model, images, labels, layer="aesthetic.stage1", splices=6)
    record = check.as_dict()
    assert record["value"] == 1.0 and record["n"] == 6 and record["maps"] == 12 and record["passed"]
    figure = spliced_figure(model, images, images, labels, check)
    assert " ".join(figure.get_suptitle().split()) == check.describe()
    assert "100%" in check.describe()


def test_a_heads_spliced_check_comes_with_its_figure_or_says_nothing_can_be_counted():
    images, labels = three_colours()
    model = WiredEmotion()
    check, figure = task_spliced_check(model, images, images, labels, "emotion", ["emotion.stage1"], splices=8)
    assert check.layer == "emotion.stage1" and check.value == 1.0 and sum(check.maps_per_class.values()) == 16
    assert " ".join(figure.get_suptitle().split()) == check.describe()
    shown = [axis.get_title() for axis in figure.axes]
    assert any("amusement" in title for title in shown) and any("anger" in title for title in shown)
    unlabelled = [labels[0]] + [-1] * (len(labels) - 1)  # one class left: no pair to splice
    assert task_spliced_check(model, images, images, unlabelled, "emotion", []) is None
    assert task_spliced_check(model, images, images, labels, "aesthetic", []) is None  # no such head


def test_focus_comparison_record_holds_the_paired_differences():
    concentration = PairedDifference.of([0.5, 0.6, 0.7], [0.3, 0.3, 0.3])
    comparison = FocusComparison({"aesthetic": TaskFocus("aesthetic", "a.c5", "a.s5", concentration, None)}, 0.2)
    record = comparison.as_dict()
    assert record["value"] == pytest.approx(0.3) and record["chance"] == 0.2 and record["area"] == 0.2
    task = record["tasks"]["aesthetic"]
    assert task["concentration"]["mean"] == pytest.approx(0.3) and task["concentration"]["higher"] == 3
    assert task["in_box"] is None and record["description"] == comparison.describe()


def test_the_focus_pair_shares_one_recipe_but_the_architecture(monkeypatch, tmp_path):
    import aelab.train

    trained = []
    monkeypatch.setattr(aelab.train, "fit", lambda config: trained.append(config) or
                        SimpleNamespace(folder=tmp_path / config.arch))
    multi, single = train_focus_pair(tmp_path, n_images=40, epochs=1, seed=3, image_size=32)
    assert (multi, single) == (tmp_path / "afi", tmp_path / "single")
    first, second = (c.to_dict() for c in trained)
    assert first.pop("arch") == "afi" and second.pop("arch") == "single" and first == second
    assert first["n_images"] == 40 and first["epochs"] == 1 and first["seed"] == 3 and first["image_size"] == 32
    with pytest.raises(ConfigError, match="epochs"):
        train_focus_pair(tmp_path, n_images=40, epochs=0)
