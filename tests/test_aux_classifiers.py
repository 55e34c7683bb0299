"""Auxiliary classifiers (paper 004): attachment, the weighted loss and prediction, gradient reach, choices."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from aelab.errors import UnknownNameError
from aelab.models import build_model
from aelab.models.auxiliary import combine_predictions, resolve_layer
from aelab.models.backbones import BACKBONES
from aelab.reference import PAPER_004_ABLATION
from aelab.selection import ablation_settings, choose_layers, paper_accuracy, top_layers
from aelab.tasks import get_task
from aelab.train.losses import model_task_losses
from aelab.viz.separability import LayerSeparability

pytestmark = pytest.mark.usefixtures("one_thread", "offline")


def images(n: int = 2, side: int = 64) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_heads_attach_at_the_named_layers_of_every_backbone(backbone):
    torch.manual_seed(0)
    plain = build_model("share_split", backbone, ["sentiment"])
    probes = plain.probe_layers()
    chosen = [probes[2], probes[-2]]
    short = [name.partition(".")[2] for name in chosen]
    model = build_model("aux", backbone, ["sentiment"], aux_layers=short).eval()
    assert model.aux_layers == chosen and model.probe_layers() == probes
    with torch.no_grad():
        out = model(images(1))
        for layer in chosen:
            head = model.aux_heads[f"sentiment__{layer.replace('.', '_')}"]
            channels = model.forward_until(images(1), layer).shape[1]
            assert head.linear.in_features == channels and head.linear.out_features == 1
    assert set(out) == {"sentiment", "sentiment@main", *(f"sentiment@{layer}" for layer in chosen)}
    assert all(v.shape == (1,) for v in out.values())
    # the hooks that captured the layers were removed again
    assert all(not model.layer(layer)._forward_hooks for layer in chosen)


def test_no_heads_is_the_base_model_itself():
    torch.manual_seed(0)
    base = build_model("share_split", "tiny", ["sentiment", "emotion"]).eval()
    torch.manual_seed(0)
    aux = build_model("aux", "tiny", ["sentiment", "emotion"]).eval()
    with torch.no_grad():
        a, b = base(images()), aux(images())
    assert set(b) == {"sentiment", "emotion"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert aux.loss_terms("emotion") == [("emotion", 1.0)]


def _constant_heads(model, main: dict[str, list[float]], aux: list[list[float]]) -> None:
    """Every head outputs constants (linear weights 0, biases set); ``aux`` in the order of ``model.sites``."""
    with torch.no_grad():
        for task, value in main.items():
            model.heads[task].linear.weight.zero_()
            model.heads[task].linear.bias.copy_(torch.as_tensor(value))
        for site, value in zip(model.sites, aux, strict=True):
            head = model.aux_heads[site.module_name]
            head.linear.weight.zero_()
            head.linear.bias.copy_(torch.as_tensor(value))


def test_prediction_is_the_weighted_sum_of_the_heads_probabilities():
    model = build_model("aux", "tiny", ["sentiment", "emotion"], aux_layers=["stage2", "stage4"],
                        aux_weight=0.1).eval()
    emotion_main = [2.0, 0, 0, 0, 0, 0, 0, 1.0]
    emotion_aux = [[0, 3.0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, -1.0]]
    assert [(s.layer, s.task) for s in model.sites] == [
        ("shared.stage2", "sentiment"), ("shared.stage2", "emotion"),
        ("shared.stage4", "sentiment"), ("shared.stage4", "emotion")]
    _constant_heads(model, {"sentiment": [-1.0], "emotion": emotion_main},
                    [[-1.0], emotion_aux[0], [0.0], emotion_aux[1]])
    with torch.no_grad():
        out = model(images())
    p_sentiment = (torch.sigmoid(torch.tensor(-1.0)) + 0.1 * (torch.sigmoid(torch.tensor(-1.0)) + 0.5)) / 1.2
    assert torch.allclose(torch.sigmoid(out["sentiment"]), p_sentiment.expand(2), atol=1e-6)
    p_emotion = (torch.tensor(emotion_main).softmax(0) + 0.1 * (torch.tensor(emotion_aux[0]).softmax(0) +
                                                                 torch.tensor(emotion_aux[1]).softmax(0))) / 1.2
    assert torch.allclose(out["emotion"].softmax(-1), p_emotion.expand(2, 8), atol=1e-6)
    assert torch.allclose(out["emotion"].exp().sum(-1), torch.ones(2), atol=1e-5)  # log-probabilities
    assert not torch.allclose(out["sentiment"], out["sentiment@main"])


def test_combined_prediction_for_each_task_kind():
    main, aux = torch.tensor([[0.3, -2.0]]), [torch.tensor([[1.5, 0.0]])]
    for name in ("style",):  # multi-label: sigmoid per output
        task = get_task(name)
        m, a = torch.zeros(1, 14), [torch.ones(1, 14)]
        expected = (torch.sigmoid(m) + 0.5 * torch.sigmoid(a[0])) / 1.5
        assert torch.allclose(torch.sigmoid(combine_predictions(task, m, a, 0.5)), expected, atol=1e-6)
    regression = get_task("aesthetic_score")
    assert torch.allclose(combine_predictions(regression, torch.tensor([6.0]), [torch.tensor([3.0])], 0.5),
                          torch.tensor([5.0]))
    two = get_task("sentiment")
    assert torch.equal(combine_predictions(two, main[0], [], 0.1), main[0])  # no heads: untouched
    assert torch.allclose(torch.sigmoid(combine_predictions(two, main[0], aux, 0.0)), torch.sigmoid(main[0]),
                          atol=1e-6)  # weight 0: the main head alone


@pytest.mark.parametrize("weight", [0.1, 1.0, 3.0])
def test_decisions_match_the_paper_two_way_softmax_and_unnormalised_sum(weight):
    """Paper 004 writes FC(→2) + softmax per head and sums the probabilities with weight w, unnormalised; the
    package's one logit z = (u₁ − u₀)·x + c₁ − c₀ per head and sum divided by 1 + w·n must decide alike."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=g)
    layers = [(torch.randn(2, 6, generator=g), torch.randn(2, generator=g)) for _ in range(4)]  # main + 3 aux
    softmaxes = [(x @ u.T + c).softmax(-1) for u, c in layers]
    paper = softmaxes[0] + weight * sum(softmaxes[1:])
    logits = [x @ (u[1] - u[0]) + c[1] - c[0] for u, c in layers]
    torch.testing.assert_close(torch.sigmoid(logits[0]), softmaxes[0][:, 1])  # one logit = two-way softmax
    ours = combine_predictions(get_task("sentiment"), logits[0], logits[1:], weight)
    assert 0 < int((paper.argmax(-1) == 1).sum()) < 400  # both decisions occur
    assert torch.equal(ours > 0, paper.argmax(-1) == 1)
    torch.testing.assert_close(torch.sigmoid(ours), paper[:, 1] / (1 + 3 * weight), atol=2e-6, rtol=1e-5)
    main, aux = torch.randn(400, 8, generator=g), [torch.randn(400, 8, generator=g) for _ in range(3)]
    paper = main.softmax(-1) + weight * sum(a.softmax(-1) for a in aux)
    assert torch.equal(combine_predictions(get_task("emotion"), main, aux, weight).argmax(-1), paper.argmax(-1))


def test_training_loss_is_main_plus_weight_times_each_head():
    torch.manual_seed(0)
    model = build_model("aux", "tiny", ["sentiment", "emotion"], aux_layers=["stage2", "stage3"],
                        aux_weight=0.25).train()
    out = model(images(4))
    tasks = [get_task("sentiment"), get_task("emotion")]
    targets = {"sentiment": torch.tensor([1, 0, 1, 1]), "emotion": torch.tensor([0, 3, 7, 2])}
    masks = {"sentiment": torch.tensor([True, True, False, True]), "emotion": torch.ones(4, dtype=torch.bool)}
    losses = model_task_losses(model, tasks, out, targets, masks)
    keep = masks["sentiment"]
    bce = lambda key: F.binary_cross_entropy_with_logits(out[key][keep], targets["sentiment"][keep].float())  # noqa
    ce = lambda key: F.cross_entropy(out[key], targets["emotion"])  # noqa
    expected_s = bce("sentiment@main") + 0.25 * (bce("sentiment@shared.stage2") + bce("sentiment@shared.stage3"))
    expected_e = ce("emotion@main") + 0.25 * (ce("emotion@shared.stage2") + ce("emotion@shared.stage3"))
    assert torch.allclose(losses["sentiment"], expected_s) and torch.allclose(losses["emotion"], expected_e)
    # the loss is not taken on the combined prediction
    assert not torch.allclose(losses["sentiment"], bce("sentiment") * 1.5)


def test_an_aux_head_sends_gradients_only_to_the_layers_below_it():
    torch.manual_seed(0)
    model = build_model("aux", "tiny", ["sentiment"], aux_layers=["stage2"])
    out = model(images())
    out["sentiment@shared.stage2"].sum().backward()
    trunk = model.base.trunk
    below = [p for i in (0, 1) for p in trunk.stages[i].parameters()]
    above = [p for i in (2, 3, 4) for p in trunk.stages[i].parameters()] + list(model.heads.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in below if p.requires_grad and p.dim() > 1)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in above)


def test_heads_on_a_branch_of_a_multitask_model_predict_that_branch_task():
    torch.manual_seed(0)
    model = build_model("aux", "tiny", ["aesthetic", "emotion"], base="afi", aux_layers=["emotion.stage3"])
    assert [(s.layer, s.task) for s in model.sites] == [("emotion.stage3", "emotion")]
    assert model.loss_terms("aesthetic") == [("aesthetic", 1.0)]
    assert model.loss_terms("emotion") == [("emotion@main", 1.0), ("emotion@emotion.stage3", 0.1)]
    assert model.connector_modules() == model.base.connector_modules() and model.connector_modules()
    out = model(images())
    assert set(out) == {"aesthetic", "emotion", "emotion@main", "emotion@emotion.stage3"}
    with pytest.raises(UnknownNameError, match="ambiguous"):
        build_model("aux", "tiny", ["aesthetic", "emotion"], base="afi", aux_layers=["stage3"])
    with pytest.raises(UnknownNameError, match="shared.stage1"):
        build_model("aux", "tiny", ["sentiment"], aux_layers=["4a"])
    with pytest.raises(UnknownNameError, match="base architecture"):
        build_model("aux", "tiny", ["sentiment"], base="aux")


def test_model_copies_and_rebuilds():
    torch.manual_seed(0)
    model = build_model("aux", "tiny", ["sentiment"], aux_layers=["stage3"]).eval()
    twin = copy.deepcopy(model)
    rebuilt = build_model(**model.build_options)
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(model(images())["sentiment"], twin(images())["sentiment"])
        assert torch.equal(model(images())["sentiment"], rebuilt.eval()(images())["sentiment"])


def scores(values: dict[str, float]) -> list[LayerSeparability]:
    return [LayerSeparability(layer, score, 0.5, 0.05) for layer, score in values.items()]


def test_auto_picks_the_most_separable_layers_and_records_the_choice():
    probes = ["shared.3a", "shared.3b", "shared.4a", "shared.4b", "shared.4c", "shared.5b"]
    found = scores({"shared.3a": 0.61, "shared.3b": 0.9, "shared.4a": 0.55, "shared.4b": 0.95, "shared.4c": 0.7})
    assert top_layers(found, 2) == ["shared.3b", "shared.4b"]
    auto = choose_layers("auto", found, probes, k=3, aux_weight=0.2)
    assert auto.layers == ["shared.3b", "shared.4b", "shared.4c"] and auto.chosen_by == "auto" and auto.k == 3
    record = auto.to_dict()
    assert record["short_layers"] == ["3b", "4b", "4c"] and [s["score"] for s in record["scores"]][1] == 0.9
    person = choose_layers(["4c", "shared.3a"], found, probes)
    assert person.layers == ["shared.3a", "shared.4c"] and person.chosen_by == "person"
    with pytest.raises(ValueError, match="'auto' or a list"):
        choose_layers("best", found, probes)
    with pytest.raises(ValueError, match="k must be between"):
        choose_layers("auto", found, probes, k=9)


def test_ablation_settings_follow_the_paper_table():
    chosen = ["shared.4a", "shared.4b", "shared.4d"]
    rows = ablation_settings(chosen, ["shared.3a", "shared.4a", "shared.4e"])
    assert [r.kind for r in rows] == ["none", "single", "single", "chosen"] + ["minus one"] * 3 + ["minus two"] * 3
    assert [r.name for r in rows][:4] == ["no auxiliary heads", "only 3a", "only 4e", "chosen: 4a + 4b + 4d"]
    assert rows[4].layers == ("shared.4b", "shared.4d") and rows[-1].layers == ("shared.4a",)
    assert len({frozenset(r.layers) for r in rows}) == len(rows)
    # two chosen layers: "minus one" already gives the single layers, no "minus two" row repeats "none"
    assert [r.kind for r in ablation_settings(chosen[:2])] == ["none", "chosen", "minus one", "minus one"]
    assert paper_accuracy(["shared.4d", "shared.4a", "shared.4b"]) == 88.1
    assert paper_accuracy(["shared.4a"]) == PAPER_004_ABLATION[("4a",)] == 85.1  # "delete 4b and 4d"
    assert paper_accuracy(["shared.stage2"]) is None


def test_short_names_resolve_or_list_the_layers():
    probes = ["shared.stem", "shared.3a", "shared.4a"]
    assert resolve_layer("4a", probes) == "shared.4a" and resolve_layer("shared.3a", probes) == "shared.3a"
    with pytest.raises(UnknownNameError, match="shared.stem"):
        resolve_layer("9z", probes)
